//! Changing a friend outside the webhook (admin API, tracked links): one read-modify-write that
//! every such change goes through, so the store's friend writes (tags → `FriendTagged`, buckets)
//! happen the same way whoever asks.
use crate::{
    deps::Deps,
    domain::{Friend, LineUserId, Tenant},
    http::CrmError,
    store::retry_on_conflict,
};

/// Reads the friend, applies `change`, writes with the version read; a concurrent write makes
/// it read and apply again. Returns the friend before and after.
pub async fn update_friend(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    change: impl Fn(&mut Friend) -> Result<(), CrmError>,
) -> Result<(Friend, Friend), CrmError> {
    let zone = t.time_zone();
    let now = deps.clock.now();
    let change = &change;
    let zone = &zone;
    let written = retry_on_conflict(|| async move {
        let before = deps
            .store
            .get_friend(&t.id, u)
            .await?
            .ok_or(CrmError::NotFound("friend"))?;
        let mut after = before.clone();
        change(&mut after)?;
        deps.store
            .save_friend(Some(&before), &after, zone, now)
            .await?;
        after.version = before.version + 1;
        Ok::<_, CrmError>((before, after))
    })
    .await?;
    written.ok_or_else(busy_friend)
}

/// Every attempt lost the race to another writer of the same friend.
pub fn busy_friend() -> CrmError {
    CrmError::Conflict("the friend is being changed concurrently; try again".into())
}
