//! Orchestration versions (Durable Functions' orchestration versioning): every instance
//! keeps the version it started with, and a host takes only the instances its code can
//! run.
//!
//! Versions compare as Durable Functions compares them: no version is older than any
//! version; versions of dot-separated numbers (`1`, `1.2`, `2.0.1`) compare number by
//! number (`1.10` is newer than `1.9`; `1.0` is older than `1.0.0`, as with .NET's
//! `System.Version`); anything else compares as text, ignoring case. The one difference:
//! between a numbered version and a text one, the numbered one is older, so every store
//! can order versions by one sort key.

use std::cmp::Ordering;
use std::str::FromStr;

/// Which instances a host takes, by the version they started with, compared with the
/// host's own version (`defaultVersion`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionMatch {
    /// Any instance, whatever its version.
    None,
    /// Only instances of exactly the host's version.
    Strict,
    /// Instances of the host's version or older (the default): a newer host finishes what
    /// older ones started, an older host leaves newer instances alone.
    #[default]
    CurrentOrOlder,
}

/// What a host does with an instance whose version it does not take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionFailure {
    /// Leave it for a host that takes it (the default): the host never leases it.
    #[default]
    Reject,
    /// Fail the instance, naming both versions.
    Fail,
}

/// A host's versioning settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioning {
    /// The version of the host's orchestrator code, given to the instances it starts;
    /// `None`: the host takes every instance, whatever the strategies say.
    pub default_version: Option<String>,
    /// Which instances the host takes.
    pub match_strategy: VersionMatch,
    /// What it does with the others.
    pub failure_strategy: VersionFailure,
}

impl Versioning {
    /// The range of sort keys the host takes, or `None` when it takes every instance.
    pub fn accepted_keys(&self) -> Option<KeyRange> {
        // Built only when there is a range: the usual host takes everything, on every turn.
        let host = || sort_key(self.default_version.as_deref());
        match self.match_strategy {
            VersionMatch::None => None,
            _ if self.default_version.is_none() => None,
            VersionMatch::Strict => Some(KeyRange {
                oldest: host(),
                newest: host(),
            }),
            VersionMatch::CurrentOrOlder => Some(KeyRange {
                oldest: String::new(),
                newest: host(),
            }),
        }
    }

    /// Whether the host takes an instance of `version`.
    pub fn accepts(&self, version: Option<&str>) -> bool {
        self.accepted_keys()
            .is_none_or(|range| range.contains(&sort_key(version)))
    }

    /// The range of keys a store's fetch may lease: with [`VersionFailure::Fail`] the
    /// host leases everything and fails what it does not take.
    pub fn fetch_filter(&self) -> Option<KeyRange> {
        match self.failure_strategy {
            VersionFailure::Reject => self.accepted_keys(),
            VersionFailure::Fail => None,
        }
    }
}

/// The sort keys of the versions a host takes, both ends included. Instances without a
/// key (entities) are taken by every host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The oldest key taken.
    pub oldest: String,
    /// The newest key taken.
    pub newest: String,
}

impl KeyRange {
    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &str) -> bool {
        self.oldest.as_str() <= key && key <= self.newest.as_str()
    }
}

/// Compares two versions by the rules at the top of this module.
pub fn compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    sort_key(a).cmp(&sort_key(b))
}

/// A text whose byte order is the versions' order: empty for no version, `n` and each
/// number zero-padded to 20 digits for numbered versions, `s` and the lower-cased text
/// for the rest. Stores keep it beside the version and filter on it.
pub(crate) fn sort_key(version: Option<&str>) -> String {
    let Some(version) = version.filter(|version| !version.is_empty()) else {
        return String::new();
    };
    match numbered(version) {
        Some(numbers) => {
            let padded: Vec<String> = numbers.iter().map(|n| format!("{n:020}")).collect();
            format!("n{}", padded.join("."))
        }
        None => format!("s{}", version.to_lowercase()),
    }
}

/// The numbers of a dot-separated numbered version, if it is one.
fn numbered(version: &str) -> Option<Vec<u64>> {
    version
        .split('.')
        .map(|part| {
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| u64::from_str(part).ok()).flatten()
        })
        .collect()
}

/// Treats an empty version as none.
pub(crate) fn normalized(version: Option<String>) -> Option<String> {
    version.filter(|version| !version.is_empty())
}

impl FromStr for VersionMatch {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "strict" => Ok(Self::Strict),
            "currentorolder" => Ok(Self::CurrentOrOlder),
            _ => Err(format!(
                "`{text}` is not a version match strategy (None, Strict or CurrentOrOlder)"
            )),
        }
    }
}

impl FromStr for VersionFailure {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "reject" => Ok(Self::Reject),
            "fail" => Ok(Self::Fail),
            _ => Err(format!(
                "`{text}` is not a version failure strategy (Reject or Fail)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(version: &str, match_strategy: VersionMatch) -> Versioning {
        Versioning {
            default_version: Some(version.to_owned()),
            match_strategy,
            failure_strategy: VersionFailure::Reject,
        }
    }

    #[test]
    fn versions_compare_by_number_then_by_text() {
        use Ordering::*;
        let cases = [
            (None, Some("1"), Less),
            (Some(""), None, Equal),
            (Some("1.9"), Some("1.10"), Less),
            (Some("2"), Some("10"), Less),
            (Some("1.0"), Some("1.0.0"), Less),
            (Some("01.2"), Some("1.2"), Equal),
            (Some("V2-Beta"), Some("v2-beta"), Equal),
            (Some("2025-01-01"), Some("2025-02-01"), Less),
            (Some("9"), Some("alpha"), Less),
            (Some("99999999999999999999999"), Some("1"), Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare(a, b), expected, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn current_or_older_takes_the_hosts_version_and_older_ones() {
        let v2 = host("2.0", VersionMatch::CurrentOrOlder);
        assert!(v2.accepts(None));
        assert!(v2.accepts(Some("1.5")));
        assert!(v2.accepts(Some("2.0")));
        assert!(!v2.accepts(Some("2.1")));
    }

    #[test]
    fn strict_takes_only_the_hosts_version() {
        let v2 = host("2.0", VersionMatch::Strict);
        assert!(v2.accepts(Some("2.0")));
        assert!(!v2.accepts(Some("1.0")));
        assert!(!v2.accepts(None));
    }

    #[test]
    fn a_host_without_a_version_or_matching_takes_everything() {
        let unversioned = Versioning::default();
        assert!(unversioned.accepts(Some("7")));
        assert!(host("1", VersionMatch::None).accepts(Some("7")));
    }

    #[test]
    fn with_fail_the_fetch_takes_everything() {
        let mut v1 = host("1", VersionMatch::Strict);
        assert!(v1.fetch_filter().is_some());
        v1.failure_strategy = VersionFailure::Fail;
        assert!(v1.fetch_filter().is_none());
    }

    #[test]
    fn strategies_parse_from_their_names_in_any_case() {
        assert_eq!("strict".parse(), Ok(VersionMatch::Strict));
        assert_eq!("CurrentOrOlder".parse(), Ok(VersionMatch::CurrentOrOlder));
        assert_eq!("FAIL".parse(), Ok(VersionFailure::Fail));
        assert!("sometimes".parse::<VersionMatch>().is_err());
    }
}
