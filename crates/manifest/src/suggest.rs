//! "Did you mean …?" suggestions for misspelt keys and ids.

/// Edit distance counting insertions, deletions, substitutions and swaps of
/// adjacent characters (optimal string alignment).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rolling rows.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_lower, c), c))
        .filter(|&(d, c)| {
            let longest = word.chars().count().max(c.chars().count());
            d <= (longest / 3).max(1)
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Formats names as "`a`, `b`, `c`".
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("route", "route"), 0);
        assert_eq!(edit_distance("route", "routes"), 1);
        assert_eq!(edit_distance("memroy", "memory"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_finds_typos_only() {
        let keys = [
            "source",
            "files",
            "allowed_outbound_hosts",
            "key_value_stores",
        ];
        assert_eq!(
            closest("allowed_outbound_host", keys),
            Some("allowed_outbound_hosts")
        );
        assert_eq!(closest("sorce", keys), Some("source"));
        assert_eq!(closest("Files", keys), Some("files"));
        assert_eq!(closest("wat", keys), None);
        assert_eq!(closest("allowed_hosts", keys), None);
    }

    #[test]
    fn lists_names() {
        assert_eq!(list(["a", "b"]), "`a`, `b`");
    }
}
