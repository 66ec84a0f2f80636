//! Which colloquy appended a log entry, and whether this node may apply it.
//!
//! Every node decides every op itself (`oplog.rs`), so two nodes agree only
//! while they decide alike: a newer colloquy may check a field the older one
//! let through, or read an op the older one cannot. Mixed, they would drift
//! apart without a word. So each entry names the version that appended it,
//! and a node never applies one from a newer colloquy: it stops, and its
//! clients reconnect to the newer nodes. An entry from an older colloquy is
//! applied by this node's rules: those are the nodes that will be left.

use semver::Version;

/// The header that names the appending colloquy's version.
pub(super) const HEADER: &str = "Colloquy-Version";

/// What a node does with an entry, given who appended it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Appended by this version: apply it.
    Same,
    /// Appended by an older colloquy (or one from before entries named
    /// theirs): apply it by this node's rules.
    Older(String),
    /// Appended by a newer colloquy, or by one this node cannot read the
    /// version of: this node stops, saying why.
    Newer(String),
}

/// Judges an entry whose [`HEADER`] is `theirs` (absent on entries from
/// before the header existed).
pub(super) fn judge(ours: &Version, theirs: Option<&str>) -> Verdict {
    let Some(theirs) = theirs else {
        return Verdict::Older("an earlier colloquy".into());
    };
    match Version::parse(theirs) {
        Ok(v) if v == *ours => Verdict::Same,
        Ok(v) if v < *ours => Verdict::Older(format!("colloquy {v}")),
        // Worded to follow "stopped, because its" (as every reason the
        // engine stops for is), or "this node's".
        Ok(v) => Verdict::Newer(format!(
            "version, {ours}, is older than another node's (colloquy {v} appended to the \
             cluster's log): nodes of different versions may decide the same op \
             differently, so this one stops. Run {v} here too"
        )),
        Err(_) => Verdict::Newer(format!(
            "version, {ours}, cannot be compared with {theirs:?}, which a log entry names: \
             this node stops rather than decide ops differently from the others"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Version {
        Version::new(0, 3, 1)
    }

    #[test]
    fn the_same_version_applies() {
        assert_eq!(judge(&ours(), Some("0.3.1")), Verdict::Same);
    }

    #[test]
    fn an_older_version_or_none_is_applied_by_our_rules() {
        assert!(matches!(judge(&ours(), Some("0.3.0")), Verdict::Older(_)));
        assert!(matches!(
            judge(&ours(), Some("0.3.1-rc.1")),
            Verdict::Older(_)
        ));
        assert!(matches!(judge(&ours(), None), Verdict::Older(_)));
    }

    #[test]
    fn a_newer_or_unreadable_version_stops_this_node() {
        let Verdict::Newer(why) = judge(&ours(), Some("0.4.0")) else {
            panic!("a newer version must stop this node");
        };
        assert!(why.contains("0.4.0") && why.contains("0.3.1"), "{why}");
        assert!(matches!(judge(&ours(), Some("0.3.2")), Verdict::Newer(_)));
        assert!(matches!(judge(&ours(), Some("banana")), Verdict::Newer(_)));
        assert!(matches!(judge(&ours(), Some("")), Verdict::Newer(_)));
    }
}
