//! Console staff, their sessions, invitations and sign-in attempt counters.
//!
//! A member is two items written and removed together: the member (`STAFF#{id}` in the tenant's
//! partition, listed with one Query) and the email claim (`STAFFEMAIL#{email}`), which makes an
//! email globally unique and turns it into its member at sign-in. Sessions and invitations are
//! stored by the SHA-256 of their token and expire under the table's TTL; since TTL deletion
//! lags, every read also checks their own expiry.
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Expiry, Store, StoreError, condition_held, keys, s, to_item, values};
use crate::domain::{
    StaffId, TenantId,
    staff::{Email, PasswordDigest, Role, StaffMember, StaffStatus},
};

#[derive(Serialize, Deserialize)]
struct StaffItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    member: StaffMember,
}

holds!(StaffItem, member: StaffMember);

/// Which member an email belongs to.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailItem {
    pk: String,
    sk: String,
    entity: String,
    tenant: TenantId,
    staff_id: StaffId,
}

/// A signed-in browser: whose it is, its CSRF token and when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub tenant: TenantId,
    pub staff_id: StaffId,
    /// The token every form of this session carries (not a credential by itself: it only
    /// proves a form came from a page we served to this session).
    pub csrf: String,
    pub created_at: Timestamp,
    /// The session ends here whatever its activity (checked on read; TTL deletion lags).
    pub ends_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    session: Session,
    #[serde(flatten)]
    expiry: Expiry,
}

holds!(SessionItem, session: Session);

/// An invitation: the invited member sets their password through its link until `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub tenant: TenantId,
    pub staff_id: StaffId,
    pub ends_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct InvitationItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    invitation: Invitation,
    #[serde(flatten)]
    expiry: Expiry,
}

holds!(InvitationItem, invitation: Invitation);

#[derive(Deserialize)]
struct AttemptsItem {
    #[serde(default)]
    attempts: i64,
}

/// What adding a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAdded {
    Added,
    /// The email belongs to a member already (of this tenant or another).
    EmailTaken,
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRemoved {
    Removed,
    Unknown,
    /// The member is the tenant's last owner: nobody could manage its staff any more.
    LastOwner,
}

impl Store {
    /// Adds `member` with its email claim, and the invitation `(token hash, ends)` that lets an
    /// invited member set a password; all or nothing.
    pub async fn add_staff(
        &self,
        member: &StaffMember,
        invitation: Option<(&str, Timestamp)>,
    ) -> Result<StaffAdded, StoreError> {
        let (pk, sk) = keys::staff_email(member.email.as_str());
        let claim = to_item(&EmailItem {
            pk,
            sk,
            entity: "staff_email".into(),
            tenant: member.tenant.clone(),
            staff_id: member.id.clone(),
        })?;
        let mut writes = vec![
            self.put(claim, Some("attribute_not_exists(pk)"))?,
            self.put(staff_item(member)?, Some("attribute_not_exists(pk)"))?,
        ];
        if let Some((token_sha256, ends_at)) = invitation {
            let (pk, sk) = keys::staff_invitation(token_sha256);
            let item = to_item(&InvitationItem {
                pk,
                sk,
                entity: "staff_invitation".into(),
                invitation: Invitation {
                    tenant: member.tenant.clone(),
                    staff_id: member.id.clone(),
                    ends_at,
                },
                expiry: Expiry::at(ends_at),
            })?;
            writes.push(self.put(item, Some("attribute_not_exists(pk)"))?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(StaffAdded::Added),
            Err(0) => Ok(StaffAdded::EmailTaken),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    pub async fn staff_member(
        &self,
        t: &TenantId,
        id: &StaffId,
    ) -> Result<Option<StaffMember>, StoreError> {
        self.value::<StaffItem>(keys::staff(t, id)).await
    }

    /// The member `email` belongs to, whatever their tenant: two GetItems.
    pub async fn staff_by_email(&self, email: &Email) -> Result<Option<StaffMember>, StoreError> {
        let Some(claim) = self
            .get_as::<EmailItem>(keys::staff_email(email.as_str()))
            .await?
        else {
            return Ok(None);
        };
        self.staff_member(&claim.tenant, &claim.staff_id).await
    }

    /// The tenant's staff, oldest first.
    pub async fn staff_members(&self, t: &TenantId) -> Result<Vec<StaffMember>, StoreError> {
        let items = self.tenant_items(t, keys::STAFF_PREFIX).await?;
        let mut members = values::<StaffItem>(items)?;
        members.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(members)
    }

    /// Removes the member and frees their email; their sessions end with them (a session is
    /// honoured only while its member exists). An owner is removed only while another remains.
    pub async fn remove_staff(
        &self,
        t: &TenantId,
        id: &StaffId,
    ) -> Result<StaffRemoved, StoreError> {
        let members = self.staff_members(t).await?;
        let Some(member) = members.iter().find(|m| &m.id == id) else {
            return Ok(StaffRemoved::Unknown);
        };
        let owners = members.iter().filter(|m| m.role == Role::Owner).count();
        if member.role == Role::Owner && owners <= 1 {
            return Ok(StaffRemoved::LastOwner);
        }
        let writes = vec![
            self.delete_existing(keys::staff(t, id))?,
            self.delete(keys::staff_email(member.email.as_str()))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(StaffRemoved::Removed),
            Err(_) => Ok(StaffRemoved::Unknown),
        }
    }

    /// The invitation whose token hashes to `token_sha256`, while it is open at `now`.
    pub async fn invitation(
        &self,
        token_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError> {
        let found = self
            .value::<InvitationItem>(keys::staff_invitation(token_sha256))
            .await?;
        Ok(found.filter(|i| i.ends_at > now))
    }

    /// Accepts an invitation: the member gets `password` and becomes active, the invitation is
    /// used up (one transaction, so a link sets a password once). False when the invitation or
    /// its member is gone.
    pub async fn accept_invitation(
        &self,
        token_sha256: &str,
        invitation: &Invitation,
        password: &PasswordDigest,
    ) -> Result<bool, StoreError> {
        let mut member = match self
            .staff_member(&invitation.tenant, &invitation.staff_id)
            .await?
        {
            Some(m) => m,
            None => return Ok(false),
        };
        member.password = Some(password.clone());
        member.status = StaffStatus::Active;
        let writes = vec![
            self.delete_existing(keys::staff_invitation(token_sha256))?,
            self.put(staff_item(&member)?, Some("attribute_exists(pk)"))?,
        ];
        Ok(self.transact(writes).await?.is_ok())
    }

    pub async fn put_session(
        &self,
        token_sha256: &str,
        session: &Session,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::staff_session(token_sha256);
        self.put_item(to_item(&SessionItem {
            pk,
            sk,
            entity: "staff_session".into(),
            session: session.clone(),
            expiry: Expiry::at(session.ends_at),
        })?)
        .await
    }

    /// The session whose token hashes to `token_sha256`, while it lasts at `now`.
    pub async fn session(
        &self,
        token_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let found = self
            .value::<SessionItem>(keys::staff_session(token_sha256))
            .await?;
        Ok(found.filter(|s| s.ends_at > now))
    }

    pub async fn end_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        self.delete_item(keys::staff_session(token_sha256)).await?;
        Ok(())
    }

    /// Takes one sign-in attempt from the email's window `(start, end)` unless `limit` are taken:
    /// false then. Conditional, so parallel guesses cannot pass the limit between a read and a
    /// write. The counter expires with its window.
    pub async fn take_login_attempt(
        &self,
        email_sha256: &str,
        (start, end): (i64, Timestamp),
        limit: u32,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::login_attempts(email_sha256, start);
        let result = self
            .update(pk, sk)
            .update_expression("SET #entity = :entity, #ttl = :ttl ADD #attempts :one")
            .condition_expression("attribute_not_exists(#attempts) OR #attempts < :limit")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_values(":entity", s("login_attempts"))
            .expression_attribute_values(":ttl", n(Expiry::at(end).epoch_seconds))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .send()
            .await;
        condition_held("UpdateItem", result)
    }

    /// Gives back an attempt taken for a sign-in that succeeded: only failures use the window up.
    pub async fn return_login_attempt(
        &self,
        email_sha256: &str,
        start: i64,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::login_attempts(email_sha256, start);
        let result = self
            .update(pk, sk)
            .update_expression("ADD #attempts :minus")
            .condition_expression("#attempts > :zero")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        // A failed condition: already back at zero, nothing to give back.
        condition_held("UpdateItem", result).map(|_| ())
    }

    /// How many attempts the email's window starting at `start` has used (for tests and logs).
    pub async fn login_attempts(&self, email_sha256: &str, start: i64) -> Result<i64, StoreError> {
        Ok(self
            .get_as::<AttemptsItem>(keys::login_attempts(email_sha256, start))
            .await?
            .map_or(0, |a| a.attempts))
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn staff_item(member: &StaffMember) -> Result<super::Item, StoreError> {
    let (pk, sk) = keys::staff(&member.tenant, &member.id);
    to_item(&StaffItem {
        pk,
        sk,
        entity: "staff".into(),
        member: member.clone(),
    })
}
