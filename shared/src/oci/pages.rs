//! Decoded list pages, kept while their bytes repeat.
//!
//! A reconcile step lists the whole compartment and the whole backend set every time: for a
//! fleet of 10,000 that is 13 MB of JSON, and decoding it was most of a steady step's CPU.
//! In a steady fleet those pages come back byte for byte the same step after step
//! (ListInstances is sorted oldest first, so a launch changes the last page only). So
//! [`OciClient::list_all_remembered`](super::client::OciClient::list_all_remembered) keeps
//! each listing's decoded pages with a fingerprint of their bytes, and a page whose bytes
//! have the same fingerprint as one the previous listing of the same request decoded is not
//! decoded again: its items are copied from what that decode produced.
//!
//! Decoding is a pure function of the bytes, so a page with the same bytes decodes to the
//! same items and is accepted or refused the same way: what a caller gets never depends on
//! the memo. The fingerprint is the length and two 64-bit foldhash digests with seeds drawn
//! at random for each client, at about 15 GB/s (a SHA-256 of the same bytes costs as much as
//! the decode it would save). Two different pages collide by chance about once in 2^128.
//! foldhash is not a cryptographic hash, but its seeds never leave the process, and the only
//! bytes anyone else could shape in a page are instance names and tags: whoever may change
//! those can already change what fleetctl sees, without a collision.
//!
//! Only the pages of the last listing of a request are kept (a later listing replaces
//! them), for at most [`LISTINGS`] requests: the memo holds what the last step decoded, no
//! history.

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How many listings (distinct requests, page tokens aside) are kept; the least recently
/// listed goes first.
pub const LISTINGS: usize = 8;

/// What a page's bytes are taken to be: their length and two digests under secret seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    len: usize,
    a: u64,
    b: u64,
}

/// One decoded page and its fingerprint.
#[derive(Clone)]
struct Page {
    fingerprint: Fingerprint,
    /// A `Vec<T>` of the listing's item type.
    items: Arc<dyn Any + Send + Sync>,
}

/// How many pages were decoded and how many were recognised since the client was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageCounts {
    /// Pages parsed from their bytes.
    pub decoded: u64,
    /// Pages whose bytes matched a page the previous listing decoded, copied instead.
    pub reused: u64,
}

/// The kept pages of recent listings (see the module documentation).
pub struct PageMemo {
    seeds: (
        foldhash::quality::RandomState,
        foldhash::quality::RandomState,
    ),
    /// Request key and its last listing's pages, the most recently listed last.
    listings: Mutex<Vec<(String, Vec<Page>)>>,
    decoded: AtomicU64,
    reused: AtomicU64,
}

impl std::fmt::Debug for PageMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageMemo")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl Default for PageMemo {
    fn default() -> Self {
        PageMemo {
            seeds: (
                foldhash::quality::RandomState::default(),
                foldhash::quality::RandomState::default(),
            ),
            listings: Mutex::new(Vec::new()),
            decoded: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }
}

/// One listing in progress: the pages of the previous listing of the same request, and those
/// of this one.
pub struct Listing<'m> {
    memo: &'m PageMemo,
    key: String,
    before: Vec<Page>,
    now: Vec<Page>,
}

impl PageMemo {
    /// The counts so far.
    pub fn counts(&self) -> PageCounts {
        PageCounts {
            decoded: self.decoded.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }

    /// Starts a listing of the request `key` (everything that identifies the request except
    /// its page token).
    pub fn listing(&self, key: String) -> Listing<'_> {
        let before = self
            .lock()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, pages)| pages.clone())
            .unwrap_or_default();
        Listing {
            memo: self,
            key,
            before,
            now: Vec::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Vec<Page>)>> {
        // A cache: a panic elsewhere while it was held leaves nothing half-done in it.
        self.listings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fingerprint(&self, body: &[u8]) -> Fingerprint {
        Fingerprint {
            len: body.len(),
            a: self.seeds.0.hash_one(body),
            b: self.seeds.1.hash_one(body),
        }
    }
}

impl Listing<'_> {
    /// The items of the page `body`: those the previous listing decoded from the same bytes,
    /// else `decode(body)`'s.
    pub fn page<T, E>(
        &mut self,
        body: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<Vec<T>, E>,
    ) -> Result<Arc<Vec<T>>, E>
    where
        T: Send + Sync + 'static,
    {
        let fingerprint = self.memo.fingerprint(body);
        let known = self
            .before
            .iter()
            .find(|p| p.fingerprint == fingerprint)
            .and_then(|p| Arc::clone(&p.items).downcast::<Vec<T>>().ok());
        let items = match known {
            Some(items) => {
                self.memo.reused.fetch_add(1, Ordering::Relaxed);
                items
            }
            None => {
                let items = Arc::new(decode(body)?);
                self.memo.decoded.fetch_add(1, Ordering::Relaxed);
                items
            }
        };
        self.now.push(Page {
            fingerprint,
            items: Arc::clone(&items) as Arc<dyn Any + Send + Sync>,
        });
        Ok(items)
    }

    /// Keeps this listing's pages in place of the previous ones (called once every page was
    /// read: a listing that failed halfway keeps the previous pages).
    pub fn finish(self) {
        let Listing { memo, key, now, .. } = self;
        let mut listings = memo.lock();
        listings.retain(|(k, _)| *k != key);
        if listings.len() >= LISTINGS {
            listings.remove(0);
        }
        listings.push((key, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(memo: &PageMemo) -> (u64, u64) {
        let c = memo.counts();
        (c.decoded, c.reused)
    }

    fn decode(body: &[u8]) -> Result<Vec<String>, std::convert::Infallible> {
        Ok(vec![String::from_utf8_lossy(body).into_owned()])
    }

    #[test]
    fn a_page_is_decoded_again_unless_its_bytes_repeat_those_of_the_previous_listing() {
        let memo = PageMemo::default();
        let mut first = memo.listing("list a".into());
        let p1 = first.page(b"[1]", decode).unwrap();
        let p2 = first.page(b"[2]", decode).unwrap();
        first.finish();
        assert_eq!(counts(&memo), (2, 0));

        // The same bytes give the very items decoded before; other bytes are decoded.
        let mut second = memo.listing("list a".into());
        let q2 = second.page(b"[2]", decode).unwrap();
        let q3 = second.page(b"[2, 3]", decode).unwrap();
        second.finish();
        assert!(Arc::ptr_eq(&p2, &q2));
        assert_eq!(*q3, vec!["[2, 3]".to_string()]);
        assert_eq!(counts(&memo), (3, 1));

        // Only the last listing is kept: "[1]" was not in it.
        let mut third = memo.listing("list a".into());
        let r1 = third.page(b"[1]", decode).unwrap();
        assert!(!Arc::ptr_eq(&p1, &r1));
        // Another request, or another item type, never sees these pages.
        let mut other = memo.listing("list b".into());
        other.page(b"[2]", decode).unwrap();
        let mut typed = memo.listing("list a".into());
        let as_numbers = typed
            .page(b"[2]", |_| Ok::<_, std::convert::Infallible>(vec![2u8]))
            .unwrap();
        assert_eq!(*as_numbers, vec![2u8]);
        assert_eq!(memo.counts().reused, 1);
    }

    #[test]
    fn a_failed_decode_is_not_kept_and_a_failed_listing_keeps_the_previous_pages() {
        let memo = PageMemo::default();
        let mut first = memo.listing("k".into());
        first.page(b"[1]", decode).unwrap();
        first.finish();
        let mut failing = memo.listing("k".into());
        assert!(
            failing
                .page(b"nope", |_| Err::<Vec<String>, _>("bad"))
                .is_err()
        );
        drop(failing);
        let mut again = memo.listing("k".into());
        again.page(b"[1]", decode).unwrap();
        assert!(
            again
                .page(b"nope", |_| Err::<Vec<String>, _>("bad"))
                .is_err()
        );
        assert_eq!(counts(&memo), (1, 1));
    }

    #[test]
    fn at_most_a_few_listings_are_kept_the_least_recent_going_first() {
        let memo = PageMemo::default();
        for k in 0..=LISTINGS {
            let mut l = memo.listing(format!("k{k}"));
            l.page(b"[1]", decode).unwrap();
            l.finish();
        }
        assert_eq!(memo.lock().len(), LISTINGS);
        let mut oldest = memo.listing("k0".into());
        oldest.page(b"[1]", decode).unwrap();
        let mut newest = memo.listing(format!("k{LISTINGS}"));
        newest.page(b"[1]", decode).unwrap();
        assert_eq!(counts(&memo), (LISTINGS as u64 + 2, 1));
    }

    #[test]
    fn fingerprints_differ_with_any_byte_and_with_the_seeds() {
        let memo = PageMemo::default();
        let body = br#"[{"id":"ocid1.instance.oc1..a","lifecycleState":"RUNNING"}]"#;
        let base = memo.fingerprint(body);
        assert_eq!(base, memo.fingerprint(body));
        for at in 0..body.len() {
            let mut changed = body.to_vec();
            changed[at] ^= 1;
            assert_ne!(memo.fingerprint(&changed), base, "byte {at}");
        }
        assert_ne!(PageMemo::default().fingerprint(body), base);
    }
}
