//! Pages and cursors shared by every list op.
//!
//! A cursor is opaque to clients: base64url of a small JSON object that says which
//! list it belongs to and where the page starts, so a cursor given to the wrong op
//! or tampered with is a `bad_request`, never a panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Page;

/// Encodes a cursor value.
pub fn encode_cursor<T: Serialize>(c: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`] for the same type.
pub fn decode_cursor<T: DeserializeOwned>(s: &str) -> Result<T> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Error::bad("invalid cursor"))?;
    serde_json::from_slice(&bytes).map_err(|_| Error::bad("invalid cursor"))
}

/// Checks a page size against its range, answering the default when absent.
pub fn page_size(v: Option<u64>, default: usize, max: usize, field: &str) -> Result<usize> {
    match v {
        None => Ok(default),
        Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
        Some(n) => Err(Error::bad(format!(
            "{field} must be from 1 to {max}, not {n}"
        ))),
    }
}

/// Where a keyset page starts, relative to a key of the list's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum From<K> {
    /// The first page.
    Start,
    /// The last page.
    End,
    /// The page of items after this key.
    After(K),
    /// The page of items before this key.
    Before(K),
}

/// The cursor of a keyset list: where to start, and the page size it keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyCursor<K> {
    /// Which list it belongs to.
    pub list: String,
    /// Where the page starts.
    pub from: From<K>,
    /// Page size.
    pub size: usize,
}

/// Cuts one page out of `keys`, sorted in the list's order, and builds the Page
/// with the items that `load` makes of the page's keys.
pub fn keyset_page<K, T>(
    list: &str,
    keys: &[K],
    from: &From<K>,
    size: usize,
    load: impl FnMut(&K) -> Option<T>,
) -> Page<T>
where
    K: Ord + Clone + Serialize,
{
    let (start, end) = match from {
        From::Start => (0, size.min(keys.len())),
        From::End => (keys.len().saturating_sub(size), keys.len()),
        From::After(k) => {
            let s = keys.partition_point(|x| x <= k);
            (s, (s + size).min(keys.len()))
        }
        From::Before(k) => {
            let e = keys.partition_point(|x| x < k);
            (e.saturating_sub(size), e)
        }
    };
    let slice = &keys[start..end];
    let has_prev = start > 0;
    let has_next = end < keys.len();
    let cursor = |from| {
        encode_cursor(&KeyCursor {
            list: list.to_string(),
            from,
            size,
        })
    };
    Page {
        items: slice.iter().filter_map(load).collect(),
        has_next,
        has_prev,
        // An empty page still has neighbours: name them by the keys around it.
        next_cursor: has_next.then(|| {
            cursor(match end.checked_sub(1).and_then(|i| keys.get(i)) {
                Some(k) => From::After(k.clone()),
                None => From::Start,
            })
        }),
        prev_cursor: has_prev.then(|| {
            cursor(match keys.get(start) {
                Some(k) => From::Before(k.clone()),
                None => From::End,
            })
        }),
    }
}

/// Reads the start and size of a keyset list request: the cursor wins over the
/// page size when given.
pub fn keyset_request<K: DeserializeOwned>(
    list: &str,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<(From<K>, usize)> {
    match cursor {
        None => Ok((From::Start, page_size)),
        Some(c) => {
            let c: KeyCursor<K> = decode_cursor(c)?;
            if c.list != list || c.size == 0 {
                return Err(Error::bad("cursor belongs to another list"));
            }
            Ok((c.from, c.size))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_both_ways() {
        let keys: Vec<u32> = (0..10).collect();
        let p = keyset_page("t", &keys, &From::Start, 4, |k| Some(*k));
        assert_eq!(p.items, vec![0, 1, 2, 3]);
        assert!(p.has_next && !p.has_prev);
        let (from, size) = keyset_request::<u32>("t", p.next_cursor.as_deref(), 99).unwrap();
        let p2 = keyset_page("t", &keys, &from, size, |k| Some(*k));
        assert_eq!(p2.items, vec![4, 5, 6, 7]);
        assert!(p2.has_prev && p2.has_next);
        let (from, size) = keyset_request::<u32>("t", p2.prev_cursor.as_deref(), 99).unwrap();
        assert_eq!(
            keyset_page("t", &keys, &from, size, |k| Some(*k)).items,
            vec![0, 1, 2, 3]
        );
        assert!(keyset_request::<u32>("other", p.next_cursor.as_deref(), 1).is_err());
        assert!(keyset_request::<u32>("t", Some("!!"), 1).is_err());
    }

    #[test]
    fn empty_pages_do_not_panic() {
        let keys: Vec<u32> = (0..3).collect();
        let p = keyset_page("t", &keys, &From::After(9), 2, |k| Some(*k));
        assert!(p.items.is_empty() && p.has_prev && !p.has_next);
        let (from, size) = keyset_request::<u32>("t", p.prev_cursor.as_deref(), 2).unwrap();
        assert_eq!(
            keyset_page("t", &keys, &from, size, |k| Some(*k)).items,
            vec![1, 2]
        );
        let p = keyset_page("t", &keys, &From::Before(0), 2, |k| Some(*k));
        assert!(p.items.is_empty() && p.has_next && !p.has_prev);
        let empty: Vec<u32> = vec![];
        let p = keyset_page("t", &empty, &From::Start, 2, |k| Some(*k));
        assert!(!p.has_next && !p.has_prev);
    }

    #[test]
    fn page_size_range() {
        assert_eq!(page_size(None, 30, 100, "page_size").unwrap(), 30);
        assert!(page_size(Some(0), 30, 100, "page_size").is_err());
        assert!(page_size(Some(101), 30, 100, "page_size").is_err());
    }
}
