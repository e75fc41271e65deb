//! CSV downloads of the console (friends, reports): UTF-8 with a byte-order mark, which Excel
//! in Japan needs to read it, every cell safe to open.
use axum::{
    http::header,
    response::{IntoResponse, Response},
};

use super::ConsoleError;

/// Excel takes a CSV for Shift_JIS unless it starts with UTF-8's byte order mark.
const BOM: &str = "\u{feff}";

/// A cell Excel would run as a formula (`=`, `+`, `-`, `@` first) is kept as text by a leading
/// apostrophe: names and tags are typed by staff, and a CSV is opened by others.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// The rows as a CSV attachment: BOM, header row, then the lines.
pub(super) fn csv_download(
    filename: &str,
    header: &[&str],
    lines: impl Iterator<Item = Vec<String>>,
) -> Result<Response, ConsoleError> {
    let failed = |e: csv::Error| ConsoleError::Internal(format!("csv: {e}"));
    let mut out = csv::Writer::from_writer(BOM.as_bytes().to_vec());
    out.write_record(header).map_err(failed)?;
    for line in lines {
        out.write_record(line.iter().map(|v| cell(v)))
            .map_err(failed)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| ConsoleError::Internal(format!("csv: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_excel_would_compute_stays_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("春のセール"), "春のセール");
        assert_eq!(cell("12"), "12");
    }
}
