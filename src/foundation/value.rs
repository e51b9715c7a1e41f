//! Type-erased values that travel along a chain.
//!
//! A chain changes type at every step, so the engine stores the current value erased. Boxing
//! every intermediate value would cost an allocation per step, which dominates the cost of a
//! short chain. Instead, common small types are kept inline in an enum, and everything else is
//! boxed. The move into and out of the enum goes through `dyn Any` on the stack, so it needs no
//! `unsafe`; after monomorphisation the type checks are constants and fold away.
//!
//! A `Value` is `Sync` although the values it holds need only be `Send`: a boxed value sits in
//! a mutex that is never locked. It is reached only by value or through `&mut`, which need no
//! locking, and the mutex is what lets a shared reference to a `Deferred` cross threads.
//!
//! Part of the foundation: it knows nothing of chains, Deferreds or anything built on them.

use std::any::{Any, TypeId};
use std::fmt;

use parking_lot::Mutex;

/// A boxed value of some type, erased.
pub(crate) trait Boxed: Send + Sync {
    /// The box, as `Box<Mutex<T>>` under `dyn Any`, for downcasting.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// The `Mutex<T>` under `dyn Any`, for `Debug` output only.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Send + 'static> Boxed for Mutex<T> {
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The inline types. Only `Debug` output reads this: the typed API always knows which type
/// to take back out.
///
/// A whole word, so that a [`Value`] is three whole words (the kind, which is also its
/// discriminant, and two of payload): a byte would leave seven bytes of padding beside it,
/// which every move of a value copies piece by piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Kind {
    Unit,
    Bool,
    Char,
    U8,
    U16,
    U32,
    U64,
    Usize,
    I8,
    I16,
    I32,
    I64,
    Isize,
    F32,
    F64,
}

/// One value of any `Send + 'static` type: small types inline as a 64-bit word, the rest
/// boxed. Sixteen bytes, so it moves in two registers.
pub(crate) enum Value {
    Inline(Kind, u64),
    Boxed(Box<dyn Boxed>),
}

/// Moves `a` out as a `B` when `A` and `B` are the same type.
#[inline(always)]
fn cast<A: 'static, B: 'static>(a: A) -> Option<B> {
    let mut slot = Some(a);
    (&mut slot as &mut dyn Any).downcast_mut::<Option<B>>().and_then(Option::take)
}

macro_rules! inline_types {
    ($($ty:ty => $kind:ident, $to:expr, $from:expr;)*) => {
        impl Value {
            /// Erases `v`, keeping it inline if its type allows.
            #[inline(always)]
            pub(crate) fn new<T: Send + 'static>(v: T) -> Value {
                let id = TypeId::of::<T>();
                $(
                    if id == TypeId::of::<$ty>() {
                        let x: $ty = cast(v).expect("TypeId matched");
                        let to: fn($ty) -> u64 = $to;
                        return Value::Inline(Kind::$kind, to(x));
                    }
                )*
                Value::Boxed(Box::new(Mutex::new(v)))
            }

            /// Takes the value back as a `T`.
            ///
            /// The typed API guarantees that the engine only ever asks for the type that was
            /// stored, so a mismatch is a bug in this crate, not in its user's code.
            #[inline(always)]
            pub(crate) fn take<T: 'static>(self) -> T {
                let id = TypeId::of::<T>();
                $(
                    if id == TypeId::of::<$ty>() {
                        if let Value::Inline(Kind::$kind, bits) = self {
                            let from: fn(u64) -> $ty = $from;
                            return cast(from(bits)).expect("TypeId matched");
                        }
                        mismatch::<T>();
                    }
                )*
                match self {
                    Value::Boxed(b) => match b.into_any().downcast::<Mutex<T>>() {
                        Ok(b) => b.into_inner(),
                        Err(_) => mismatch::<T>(),
                    },
                    Value::Inline(..) => mismatch::<T>(),
                }
            }

            /// Formats the value with `T`'s `Debug`, if it is a `T`; `None` if it holds another
            /// type (a paused chain's value may be that of an earlier step). Only `Debug`
            /// output calls this: the typed layer knows `T`, the engine does not.
            pub(crate) fn fmt_as<T: fmt::Debug + 'static>(
                &self,
                f: &mut fmt::Formatter<'_>,
            ) -> Option<fmt::Result> {
                let id = TypeId::of::<T>();
                $(
                    if id == TypeId::of::<$ty>() {
                        let Value::Inline(Kind::$kind, bits) = *self else { return None };
                        let from: fn(u64) -> $ty = $from;
                        let value = from(bits);
                        let value = (&value as &dyn Any).downcast_ref::<T>()?;
                        return Some(fmt::Debug::fmt(value, f));
                    }
                )*
                match self {
                    Value::Boxed(b) => {
                        let value = b.as_any().downcast_ref::<Mutex<T>>()?.try_lock()?;
                        Some(fmt::Debug::fmt(&*value, f))
                    }
                    Value::Inline(..) => None,
                }
            }

            /// [`fmt_as`](Value::fmt_as) into a `String`.
            pub(crate) fn debug_as<T: fmt::Debug + 'static>(&self) -> Option<String> {
                struct Show<'a, T>(&'a Value, std::marker::PhantomData<T>);
                impl<T: fmt::Debug + 'static> fmt::Display for Show<'_, T> {
                    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        self.0.fmt_as::<T>(f).unwrap_or(Err(fmt::Error))
                    }
                }
                let mut out = String::new();
                fmt::write(&mut out, format_args!("{}", Show::<T>(self, std::marker::PhantomData)))
                    .ok()
                    .map(|()| out)
            }

            /// A short description for `Debug` output: the value itself for the inline
            /// types, which all implement `Debug`, and its kind otherwise.
            pub(crate) fn describe(&self) -> String {
                match *self {
                    $(Value::Inline(Kind::$kind, bits) => {
                        let from: fn(u64) -> $ty = $from;
                        format!("{:?}", from(bits))
                    })*
                    Value::Boxed(_) => "a boxed value".to_owned(),
                }
            }
        }
    };
}

#[cold]
#[inline(never)]
fn mismatch<T>() -> ! {
    panic!("deferreds: internal type mismatch, expected {}", std::any::type_name::<T>())
}

inline_types! {
    () => Unit, |()| 0, |_| ();
    bool => Bool, |x| x as u64, |b| b != 0;
    char => Char, |x| x as u64, |b| char::from_u32(b as u32).unwrap_or(char::REPLACEMENT_CHARACTER);
    u8 => U8, |x| x as u64, |b| b as u8;
    u16 => U16, |x| x as u64, |b| b as u16;
    u32 => U32, |x| x as u64, |b| b as u32;
    u64 => U64, |x| x, |b| b;
    usize => Usize, |x| x as u64, |b| b as usize;
    i8 => I8, |x| x as u64, |b| b as i8;
    i16 => I16, |x| x as u64, |b| b as i16;
    i32 => I32, |x| x as u64, |b| b as i32;
    i64 => I64, |x| x as u64, |b| b as i64;
    isize => Isize, |x| x as u64, |b| b as isize;
    f32 => F32, |x| x.to_bits() as u64, |b| f32::from_bits(b as u32);
    f64 => F64, |x| x.to_bits(), f64::from_bits;
}

impl Value {
    /// Whether the value is one of the inline kinds, which own nothing.
    #[inline]
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self, Value::Inline(..))
    }

    /// The unit value, which `chain_deferred` and `()`-returning steps leave behind.
    pub(crate) const UNIT: Value = Value::Inline(Kind::Unit, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_stay_inline() {
        assert!(matches!(Value::new(7u64), Value::Inline(Kind::U64, 7)));
        assert!(matches!(Value::new(-3i32), Value::Inline(Kind::I32, _)));
        assert_eq!(Value::new(-3i32).take::<i32>(), -3);
        assert!(matches!(Value::new(()), Value::Inline(Kind::Unit, 0)));
        assert!(matches!(Value::new(String::from("x")), Value::Boxed(_)));
    }

    #[test]
    fn round_trips_every_kind() {
        assert_eq!(Value::new(5u8).take::<u8>(), 5);
        assert_eq!(Value::new(1.5f64).take::<f64>(), 1.5);
        assert_eq!(Value::new(-0.25f32).take::<f32>(), -0.25);
        assert_eq!(Value::new(i64::MIN).take::<i64>(), i64::MIN);
        assert_eq!(Value::new(u64::MAX).take::<u64>(), u64::MAX);
        assert!(Value::new(true).take::<bool>());
        assert_eq!(Value::new(isize::MIN).take::<isize>(), isize::MIN);
        assert_eq!(Value::new('z').take::<char>(), 'z');
        assert_eq!(Value::new(vec![1, 2]).take::<Vec<i32>>(), vec![1, 2]);
        assert_eq!(Value::new(Some("s")).take::<Option<&str>>(), Some("s"));
        Value::new(()).take::<()>();
    }

    #[test]
    fn describe_shows_inline_values() {
        assert_eq!(Value::new(9u32).describe(), "9");
        assert_eq!(Value::new('c').describe(), "'c'");
        assert_eq!(Value::new(vec![1]).describe(), "a boxed value");
    }

    #[test]
    fn fmt_as_formats_a_value_of_the_asked_type_only() {
        struct Show<'a, T>(&'a Value, std::marker::PhantomData<T>);
        impl<T: fmt::Debug + 'static> fmt::Display for Show<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_as::<T>(f).unwrap_or_else(|| f.write_str("<other>"))
            }
        }
        fn show<T: fmt::Debug + 'static>(v: &Value) -> String {
            Show::<T>(v, std::marker::PhantomData).to_string()
        }
        assert_eq!(show::<String>(&Value::new(String::from("poem"))), "\"poem\"");
        assert_eq!(show::<u8>(&Value::new(7u8)), "7");
        assert_eq!(show::<u16>(&Value::new(7u8)), "<other>");
        assert_eq!(show::<Vec<u8>>(&Value::new(String::new())), "<other>");
        assert_eq!(show::<String>(&Value::new(3u32)), "<other>");
    }

    #[test]
    #[should_panic(expected = "internal type mismatch")]
    fn take_with_the_wrong_type_panics() {
        Value::new(1u8).take::<u16>();
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<Value>() <= 24);
    }
}
