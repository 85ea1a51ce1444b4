//! The two axes of the expanded matrix, as types, so a primary sliver can never be taken for a
//! secondary one.
//!
//! A primary sliver is a *row* of the expanded matrix; a secondary sliver is a *column*. The
//! primary code (`kp` source symbols) runs down columns and produces rows; the secondary code
//! (`ks` source symbols) runs along rows and produces columns.

use std::fmt::Debug;

mod sealed {
    pub trait Sealed {}
}

/// Marker for the axis of a sliver. Implemented only by [`Primary`] and [`Secondary`].
pub trait Axis: sealed::Sealed + Copy + Default + Debug + Eq + Send + Sync + 'static {
    const IS_PRIMARY: bool;
    const NAME: &'static str;
    type Orthogonal: Axis<Orthogonal = Self>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Primary;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Secondary;

impl sealed::Sealed for Primary {}
impl sealed::Sealed for Secondary {}

impl Axis for Primary {
    const IS_PRIMARY: bool = true;
    const NAME: &'static str = "primary";
    type Orthogonal = Secondary;
}

impl Axis for Secondary {
    const IS_PRIMARY: bool = false;
    const NAME: &'static str = "secondary";
    type Orthogonal = Primary;
}
