//! The `Range` header of an aggregator read: one byte range, in any of the three forms of
//! RFC 9110 (`a-b`, `a-`, `-n`). Walrus's aggregator takes only `a-b`; the others cost nothing
//! more here, and video players send `a-`.

use std::ops::Range;
use std::str::FromStr;

/// One requested byte range, before the blob's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b`: from `a` to `b`, both included.
    Closed { first: u64, last: u64 },
    /// `bytes=a-`: from `a` to the end.
    From { first: u64 },
    /// `bytes=-n`: the last `n` bytes.
    Suffix { len: u64 },
}

impl FromStr for ByteRange {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let spec = value
            .trim()
            .strip_prefix("bytes=")
            .ok_or_else(|| format!("range {value:?} is not of the form bytes=first-last"))?;
        if spec.contains(',') {
            return Err("only one range per request is supported".to_owned());
        }
        let (first, last) =
            spec.split_once('-').ok_or_else(|| format!("range {value:?} is not of the form bytes=first-last"))?;
        let number = |text: &str| {
            let text = text.trim();
            // u64's parser takes a leading '+', which a range may not have.
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{text:?} in range {value:?} is not a byte position"));
            }
            text.parse::<u64>().map_err(|_| format!("{text:?} in range {value:?} is not a byte position"))
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, true) => Err(format!("range {value:?} names no bytes")),
            (true, false) => Ok(Self::Suffix { len: number(last)? }),
            (false, true) => Ok(Self::From { first: number(first)? }),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!("range {value:?} ends before it starts"));
                }
                Ok(Self::Closed { first, last })
            }
        }
    }
}

impl ByteRange {
    /// The bytes of a blob of `size` bytes this range covers, or `None` when it covers none
    /// (a 416). A range running past the end is cut at the end, as RFC 9110 says.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            Self::Closed { first, last } => first..last.saturating_add(1).min(size),
            Self::From { first } => first..size,
            Self::Suffix { len } => size.saturating_sub(len)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ByteRange, String> {
        text.parse()
    }

    #[test]
    fn the_three_forms_parse() {
        assert_eq!(parse("bytes=0-99"), Ok(ByteRange::Closed { first: 0, last: 99 }));
        assert_eq!(parse(" bytes=5- "), Ok(ByteRange::From { first: 5 }));
        assert_eq!(parse("bytes=-7"), Ok(ByteRange::Suffix { len: 7 }));
    }

    #[test]
    fn malformed_ranges_are_refused_with_a_reason() {
        assert!(parse("0-99").unwrap_err().contains("bytes=first-last"));
        assert!(parse("items=0-1").unwrap_err().contains("bytes=first-last"));
        assert!(parse("bytes=0-1,5-6").unwrap_err().contains("one range"));
        assert!(parse("bytes=-").unwrap_err().contains("no bytes"));
        assert!(parse("bytes=9-3").unwrap_err().contains("ends before"));
        assert!(parse("bytes=a-3").unwrap_err().contains("not a byte position"));
        assert!(parse("bytes=+1-3").unwrap_err().contains("not a byte position"));
        assert!(parse("bytes=99999999999999999999-").unwrap_err().contains("not a byte position"));
        assert!(parse("bytes=5").unwrap_err().contains("bytes=first-last"));
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        let closed = ByteRange::Closed { first: 2, last: 4 };
        assert_eq!(closed.resolve(10), Some(2..5));
        assert_eq!(closed.resolve(4), Some(2..4), "cut at the end");
        assert_eq!(closed.resolve(2), None, "starts at the end");
        assert_eq!(ByteRange::Closed { first: 0, last: u64::MAX }.resolve(3), Some(0..3));
        assert_eq!(ByteRange::From { first: 9 }.resolve(10), Some(9..10));
        assert_eq!(ByteRange::From { first: 10 }.resolve(10), None);
        assert_eq!(ByteRange::Suffix { len: 3 }.resolve(10), Some(7..10));
        assert_eq!(ByteRange::Suffix { len: 30 }.resolve(10), Some(0..10));
        assert_eq!(ByteRange::Suffix { len: 0 }.resolve(10), None);
        assert_eq!(ByteRange::From { first: 0 }.resolve(0), None, "an empty blob has no bytes to give");
    }
}
