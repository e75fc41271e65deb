//! One retry rule for read-modify-write: conditional writes refused because another writer got
//! there first are tried again on a fresh read, a bounded number of times.

/// How many times a read-modify-write is tried before giving up on a busy item.
pub const WRITE_ATTEMPTS: usize = 5;

/// An error that may mean "someone else wrote first; read again".
pub trait Conflicting {
    fn is_conflict(&self) -> bool;
}

impl Conflicting for super::StoreError {
    fn is_conflict(&self) -> bool {
        matches!(self, super::StoreError::Conflict)
    }
}

/// Runs `attempt` (read, change, conditional write) until it is not refused by a concurrent
/// write, at most [`WRITE_ATTEMPTS`] times. `Ok(None)`: every attempt lost the race; what that
/// means (an error, a warning) is the caller's to say.
///
/// A plain closure returning a future rather than an async closure: the futures of async
/// closures cannot yet be shown `Send` to axum and lambda_runtime.
pub async fn retry_on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<Option<T>, E>
where
    E: Conflicting,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    for _ in 0..WRITE_ATTEMPTS {
        match attempt().await {
            Err(e) if e.is_conflict() => continue,
            other => return other.map(Some),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[tokio::test]
    async fn a_conflict_is_read_again_until_the_write_lands() {
        let mut tries = 0;
        let out = retry_on_conflict(|| {
            tries += 1;
            let n = tries;
            async move {
                if n < 3 {
                    Err(StoreError::Conflict)
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(out.ok().flatten(), Some(3));
    }

    #[tokio::test]
    async fn a_busy_item_gives_up_after_the_last_attempt() {
        let mut tries = 0;
        let out: Result<Option<()>, _> = retry_on_conflict(|| {
            tries += 1;
            async { Err(StoreError::Conflict) }
        })
        .await;
        assert!(matches!(out, Ok(None)));
        assert_eq!(tries, WRITE_ATTEMPTS);
    }

    #[tokio::test]
    async fn other_errors_end_at_once() {
        let mut tries = 0;
        let out: Result<Option<()>, _> = retry_on_conflict(|| {
            tries += 1;
            async { Err(StoreError::BadCursor) }
        })
        .await;
        assert!(matches!(out, Err(StoreError::BadCursor)));
        assert_eq!(tries, 1);
    }
}
