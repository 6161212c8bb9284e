//! What the derive can tell from a field's type as written (before type checking).
//!
//! The SQL type itself comes from the `ColumnType` trait at compile time; this module only
//! answers questions about the type's shape (is it an `Option`, a narrow integer, a naive
//! timestamp, ...). It decides nothing: the rules that ask are in [`crate::valid`].

use syn::{GenericArgument, PathArguments, Type};

/// The last path segment's name and its generic type arguments.
fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let seg = path.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((seg.ident.to_string(), args))
}

/// `T` for `Option<T>`, else `None`.
pub fn option_inner(ty: &Type) -> Option<&Type> {
    match last_segment(ty)? {
        (name, args) if name == "Option" && args.len() == 1 => Some(args[0]),
        _ => None,
    }
}

/// The type with any `Option<...>` removed.
pub fn strip_option(ty: &Type) -> &Type {
    option_inner(ty).unwrap_or(ty)
}

/// The last path segment's name of the type with `Option` stripped (`DateTime`, `i32`, ...).
pub fn base_name(ty: &Type) -> Option<String> {
    last_segment(strip_option(ty)).map(|(name, _)| name)
}

/// Whether the type is (an `Option` of) an integer narrower than 64 bits.
pub fn is_narrow_int(ty: &Type) -> bool {
    matches!(
        base_name(ty).as_deref(),
        Some("i32" | "i16" | "i8" | "u8" | "u16" | "u32")
    )
}

/// Whether the type is (an `Option` of) a float.
pub fn is_float(ty: &Type) -> bool {
    matches!(base_name(ty).as_deref(), Some("f32" | "f64"))
}

/// Whether the type is a signed integer the columns support (`i16`, `i32`, `i64`).
pub fn is_integer(ty: &Type) -> bool {
    matches!(base_name(ty).as_deref(), Some("i16" | "i32" | "i64"))
}

/// Whether the type is `DateTime<...>` (its time zone is checked by the `ColumnType` bound).
pub fn is_datetime(ty: &Type) -> bool {
    base_name(ty).as_deref() == Some("DateTime")
}

/// A timestamp type without a time zone anywhere in `ty` (inside `Option`/`Vec` too).
pub fn naive_timestamp(ty: &Type) -> Option<String> {
    let (name, args) = last_segment(ty)?;
    if matches!(name.as_str(), "NaiveDateTime" | "PrimitiveDateTime") {
        return Some(name);
    }
    if matches!(name.as_str(), "Option" | "Vec") {
        return args.first().and_then(|t| naive_timestamp(t));
    }
    None
}
