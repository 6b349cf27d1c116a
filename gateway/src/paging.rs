//! AIP-158 paging shared by the list RPCs: a page size (0 = the default,
//! capped at a maximum, negative refused) and an opaque page token, which is
//! the last id of the previous page.

use ticketing_aggregates::ValidationError;

use crate::AppError;

pub struct Page<Id> {
    pub size: usize,
    pub after: Option<Id>,
}

/// Reads `page_size` and `page_token`; `parse` checks that the token is an
/// id of the listed kind.
pub fn page<Id>(
    page_size: i32,
    page_token: &str,
    default: usize,
    max: usize,
    parse: impl Fn(&str, &str) -> Result<Id, ValidationError>,
) -> Result<Page<Id>, AppError> {
    let size = match page_size {
        0 => default,
        n if n < 0 => return Err(AppError::invalid("page_size", "must not be negative")),
        n => (n as usize).min(max),
    };
    let after = match page_token {
        "" => None,
        token => Some(parse("page_token", token).map_err(|_| {
            AppError::invalid("page_token", "not a page token this service issued")
        })?),
    };
    Ok(Page { size, after })
}
