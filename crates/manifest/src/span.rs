//! Turning byte offsets from the TOML parser into 1-based lines and columns.

/// The manifest text plus where each of its lines starts.
pub(crate) struct SourceMap<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Loc {
    pub line: usize,
    pub column: usize,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceMap { text, line_starts }
    }

    /// The line and column of byte `offset` (clamped to the text).
    pub(crate) fn locate(&self, offset: usize) -> Loc {
        let offset = offset.min(self.text.len());
        let index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[index];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Loc {
            line: index + 1,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let map = SourceMap::new("a = 1\nbé = 2\n\nc");
        assert_eq!(map.locate(0), Loc { line: 1, column: 1 });
        assert_eq!(map.locate(4), Loc { line: 1, column: 5 });
        assert_eq!(map.locate(6), Loc { line: 2, column: 1 });
        // `é` is two bytes but one column.
        assert_eq!(map.locate(9), Loc { line: 2, column: 3 });
        assert_eq!(map.locate(14), Loc { line: 3, column: 1 });
        assert_eq!(map.locate(15), Loc { line: 4, column: 1 });
        assert_eq!(map.locate(99), Loc { line: 4, column: 2 });
    }
}
