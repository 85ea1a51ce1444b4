//! The BCS body of a `decodingSymbols` answer, written and read straight from and into lines of
//! symbols. The answer is the BCS of a map `target sliver index (u16) → Vec<symbol>`, a symbol
//! being `enum { Primary { index: u16, data: Vec<u8> }, Secondary { .. } }`, the variant naming
//! the target's axis and `index` the source sliver. A blob sync answer carries about 10,000
//! symbols of a few bytes each, so a value (and an allocation) per symbol would cost more than
//! the coding itself.

/// A malformed answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed decodingSymbols answer: {0}")]
pub(crate) struct Malformed(&'static str);

/// Sorts and dedups `targets` into the order BCS writes map keys: by their serialized bytes
/// (little-endian), so not numerically once an index passes 255.
pub(crate) fn canonical_order(targets: &mut Vec<u16>) {
    targets.sort_unstable_by_key(|t| t.to_le_bytes());
    targets.dedup();
}

/// The answer for `targets` (of the primary axis if `primary`, in [`canonical_order`]) from
/// `sources`: each a source sliver index and its `s`-byte symbols for all targets, in order.
pub(crate) fn write_answer(primary: bool, targets: &[u16], sources: &[(u16, &[u8])], s: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + targets.len() * (8 + sources.len() * (s + 8)));
    uleb128(&mut out, targets.len());
    for (w, target) in targets.iter().enumerate() {
        out.extend_from_slice(&target.to_le_bytes());
        uleb128(&mut out, sources.len());
        for (index, line) in sources {
            out.push(if primary { 0 } else { 1 });
            out.extend_from_slice(&index.to_le_bytes());
            uleb128(&mut out, s);
            out.extend_from_slice(&line[w * s..(w + 1) * s]);
        }
    }
    out
}

/// One symbol of an answer: for which target, from which source, and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Symbol<'a> {
    pub target: u16,
    pub source: u16,
    pub data: &'a [u8],
}

/// Calls `each` with the symbols of an answer whose variant is the expected axis (`primary` or
/// not), in the order they come; the other axis's symbols are skipped. The whole body is
/// checked first: if it is malformed, `each` is never called.
pub(crate) fn read_answer<'a>(
    bytes: &'a [u8],
    primary: bool,
    mut each: impl FnMut(Symbol<'a>),
) -> Result<(), Malformed> {
    walk(bytes, primary, |_| {})?;
    walk(bytes, primary, &mut each)
}

fn walk<'a>(bytes: &'a [u8], primary: bool, mut each: impl FnMut(Symbol<'a>)) -> Result<(), Malformed> {
    let mut reader = Reader(bytes);
    for _ in 0..reader.uleb128()? {
        let target = reader.u16()?;
        for _ in 0..reader.uleb128()? {
            let variant = match reader.uleb128()? {
                0 => true,
                1 => false,
                _ => return Err(Malformed("unknown symbol variant")),
            };
            let source = reader.u16()?;
            let len = reader.uleb128()?;
            let data = reader.take(len)?;
            if variant == primary {
                each(Symbol { target, source, data });
            }
        }
    }
    if !reader.0.is_empty() {
        return Err(Malformed("bytes after the map"));
    }
    Ok(())
}

fn uleb128(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < len {
            return Err(Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// A BCS length: ULEB128 of at most 32 bits.
    fn uleb128(&mut self) -> Result<usize, Malformed> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return u32::try_from(value).map(|v| v as usize).map_err(|_| Malformed("length over 32 bits"));
            }
        }
        Err(Malformed("length over 32 bits"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    /// The answer as typed values, for checking the hand-written bytes against `bcs`.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum EitherSymbol {
        Primary(TypedSymbol),
        Secondary(TypedSymbol),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct TypedSymbol {
        index: u16,
        data: Vec<u8>,
    }

    /// Targets, each source's line of symbols, and the same symbols typed per target.
    type Example = (Vec<u16>, Vec<(u16, Vec<u8>)>, BTreeMap<u16, Vec<EitherSymbol>>);

    /// Targets on both sides of 256 (where little-endian order differs from numeric), three
    /// sources, 3-byte symbols whose bytes tell target and source apart.
    fn example() -> Example {
        let mut targets = vec![300, 1, 256, 7, 1];
        canonical_order(&mut targets);
        let sources: Vec<(u16, Vec<u8>)> = [4u16, 900, 2]
            .iter()
            .map(|&i| (i, targets.iter().flat_map(|&t| [t as u8, (t >> 8) as u8, i as u8]).collect()))
            .collect();
        let typed = targets
            .iter()
            .map(|&t| {
                let symbols = sources
                    .iter()
                    .map(|(i, _)| {
                        EitherSymbol::Secondary(TypedSymbol {
                            index: *i,
                            data: vec![t as u8, (t >> 8) as u8, *i as u8],
                        })
                    })
                    .collect();
                (t, symbols)
            })
            .collect();
        (targets, sources, typed)
    }

    #[test]
    fn written_answers_are_the_bcs_of_the_map() {
        let (targets, sources, typed) = example();
        assert_eq!(targets, [256, 1, 7, 300]);
        let sources: Vec<(u16, &[u8])> = sources.iter().map(|(i, l)| (*i, l.as_slice())).collect();
        let written = write_answer(false, &targets, &sources, 3);
        assert_eq!(written, bcs::to_bytes(&typed).unwrap());
        // Long enough for multi-byte lengths.
        let line = vec![9u8; 200 * 130];
        let targets: Vec<u16> = (0..200).collect();
        let typed: BTreeMap<u16, Vec<EitherSymbol>> = targets
            .iter()
            .map(|&t| (t, vec![EitherSymbol::Primary(TypedSymbol { index: 5, data: vec![9; 130] })]))
            .collect();
        let mut ordered = targets.clone();
        canonical_order(&mut ordered);
        assert_eq!(write_answer(true, &ordered, &[(5, &line)], 130), bcs::to_bytes(&typed).unwrap());
    }

    /// The symbols `read_answer` gives, collected.
    fn read(bytes: &[u8], primary: bool) -> Result<Vec<Symbol<'_>>, Malformed> {
        let mut symbols = Vec::new();
        read_answer(bytes, primary, |s| symbols.push(s))?;
        Ok(symbols)
    }

    #[test]
    fn answers_read_back_symbol_by_symbol() {
        let (_, _, typed) = example();
        let bytes = bcs::to_bytes(&typed).unwrap();
        let symbols = read(&bytes, false).unwrap();
        let mut expected: Vec<Symbol> = typed
            .iter()
            .flat_map(|(&target, symbols)| {
                symbols.iter().map(move |s| match s {
                    EitherSymbol::Secondary(s) | EitherSymbol::Primary(s) => {
                        Symbol { target, source: s.index, data: &s.data }
                    }
                })
            })
            .collect();
        // In the order BCS writes the map: by the keys' bytes.
        expected.sort_by_key(|s| s.target.to_le_bytes());
        assert_eq!(symbols, expected);
        // Symbols for the other axis are skipped, not refused.
        assert_eq!(read(&bytes, true).unwrap(), []);
        assert_eq!(read(&[0], true).unwrap(), []);
    }

    #[test]
    fn malformed_answers_are_refused_whole() {
        let (_, _, typed) = example();
        let bytes = bcs::to_bytes(&typed).unwrap();
        for len in 0..bytes.len() {
            let mut called = false;
            assert_eq!(
                read_answer(&bytes[..len], false, |_| called = true),
                Err(Malformed("truncated")),
                "cut at {len}"
            );
            assert!(!called, "a symbol of an answer cut at {len} was used");
        }
        assert_eq!(read(&[bytes.as_slice(), &[0]].concat(), false), Err(Malformed("bytes after the map")));
        // One target, one symbol of variant 2.
        assert_eq!(read(&[1, 0, 0, 1, 2, 0, 0, 0], false), Err(Malformed("unknown symbol variant")));
        // A data length of 2^35 - 1, and one with a sixth byte.
        let huge = [1, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(read(&huge, true), Err(Malformed("length over 32 bits")));
        let long = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(read(&long, true), Err(Malformed("length over 32 bits")));
        // A map claiming 2^32 - 1 targets ends at once, without reserving room for them.
        assert_eq!(read(&[0xff, 0xff, 0xff, 0xff, 0x0f], true), Err(Malformed("truncated")));
    }
}
