//! The lease rules, as pure functions of the ledger's [`Lease`] and `now`.
//!
//! The lease replaces an in-process mutex: whoever holds it (a CLI run, one function
//! instance) may act on the fleet until it expires. It is only as good as the write that
//! records it, so callers take it by changing the ledger and saving it conditionally
//! ([`super::StateStore::save`]); a concurrent taker gets a conflict, re-reads, and sees the
//! new holder.
//!
//! # Rules
//! - Free, expired (`now >= expires`) or released: anyone may take it; the fencing counter goes
//!   up by one, starting a new holding period.
//! - Held by the same holder and not expired: renewing moves `expires`; the fencing counter
//!   stays.
//! - Held by another holder and not expired: refused with [`LeaseBusy`], naming the holder and
//!   the expiry.
//! - The fencing counter never goes down, not even on release.

use std::time::Duration;

use time::OffsetDateTime;

use super::ledger::{HolderId, Lease, LeaseHold, Timestamp};

/// The lease is held by someone else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the fleet's lease is held by {holder} until {expires}; try again after that")]
pub struct LeaseBusy {
    /// The current holder.
    pub holder: HolderId,
    /// When its lease ends unless renewed.
    pub expires: Timestamp,
}

impl Lease {
    /// The current holding period, if the lease is held and not expired at `now`.
    pub fn current(&self, now: OffsetDateTime) -> Option<&LeaseHold> {
        self.held.as_ref().filter(|h| now < h.expires.get())
    }

    /// True when `holder` holds the lease at `now`.
    pub fn is_held_by(&self, holder: &HolderId, now: OffsetDateTime) -> bool {
        self.current(now).is_some_and(|h| &h.holder == holder)
    }

    /// Takes or renews the lease for `holder` until `now + ttl` (see the module rules) and
    /// returns the fencing counter of the holding period.
    pub fn acquire(
        &mut self,
        holder: &HolderId,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<u64, LeaseBusy> {
        let ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
        let expires = Timestamp::new(now.saturating_add(ttl));
        match self.current(now) {
            Some(h) if &h.holder != holder => Err(LeaseBusy {
                holder: h.holder.clone(),
                expires: h.expires,
            }),
            Some(_) => {
                if let Some(h) = self.held.as_mut() {
                    h.expires = expires;
                }
                Ok(self.fencing)
            }
            None => {
                self.fencing = self.fencing.saturating_add(1);
                self.held = Some(LeaseHold {
                    holder: holder.clone(),
                    acquired: Timestamp::new(now),
                    expires,
                });
                Ok(self.fencing)
            }
        }
    }

    /// Gives the lease up if `holder` holds it (expired or not); returns whether it did. The
    /// fencing counter is kept.
    pub fn release(&mut self, holder: &HolderId) -> bool {
        if self.held.as_ref().is_some_and(|h| &h.holder == holder) {
            self.held = None;
            true
        } else {
            false
        }
    }
}
