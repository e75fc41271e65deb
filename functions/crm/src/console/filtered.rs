//! What staff do with the friends the list's filters select, all of them rather than one page:
//! tag or untag them (editors; through `crm::friends::bulk_tag`, as the JSON API), and download
//! them as CSV.
use std::collections::BTreeSet;

use askama::Template;
use axum::{
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{
    Chrome, ConsoleError, Editor, Labels, Posted, Staff,
    download::csv_download,
    friends::{ListQuery, display_name, local},
    html,
};
use crate::{
    deps::Deps,
    domain::{Friend, TagName},
    friends::{BULK_BATCH, BulkTagging, bulk_tag},
};

/// Rows one CSV download holds at most: its body must fit one function response (6 MB). A
/// larger selection is refused with a word to narrow it, never cut short silently.
pub const MAX_EXPORT_ROWS: usize = 20_000;
/// Friends read per page while exporting.
const EXPORT_PAGE: usize = 200;

#[derive(Debug, Deserialize)]
pub(super) struct BulkForm {
    #[serde(flatten)]
    q: ListQuery,
    bulk_tag: String,
    /// "add" or "remove".
    action: String,
    /// Where the previous call stopped, when continuing.
    #[serde(default)]
    bulk_cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "console/bulk.html")]
struct BulkPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    q: ListQuery,
    bulk_tag: String,
    action: String,
    updated: usize,
    /// Set while friends remain: the form continues from it.
    cursor: Option<String>,
    /// The list's filters, to go back to it.
    filters: String,
}

/// `POST /console/friends/bulk-tags`: tags or untags up to `BULK_BATCH` of the selected
/// friends and says how many; the page continues from where it stopped until all are done.
pub(super) async fn bulk_tags(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<BulkForm, Editor>,
) -> Result<Response, ConsoleError> {
    let tag = TagName::parse(&form.bulk_tag).map_err(|_| ConsoleError::BadForm)?;
    let change = match form.action.as_str() {
        "add" => BulkTagging::Add(tag),
        "remove" => BulkTagging::Remove(tag),
        _ => return Err(ConsoleError::BadForm),
    };
    let filter = form.q.filter(&who.tenant.time_zone())?;
    let cursor = form.bulk_cursor.as_deref().filter(|c| !c.is_empty());
    let progress = bulk_tag(&deps, &who.tenant, &filter, &change, cursor, BULK_BATCH).await?;
    let page = BulkPage {
        l: who.lang.labels(),
        me: Some(Chrome::of(&who)),
        csrf: who.csrf.clone(),
        filters: form.q.next(""),
        q: form.q,
        bulk_tag: form.bulk_tag,
        action: form.action,
        updated: progress.updated,
        cursor: progress.cursor,
    };
    Ok(html(StatusCode::OK, &page))
}

/// `GET /console/friends.csv?…`: every friend the filters select, one row each, with a column
/// per custom field any of them has. UTF-8 with a byte-order mark, so Excel reads the Japanese.
pub(super) async fn csv(
    staff: Staff,
    State(deps): State<Deps>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let Query(q) = query.map_err(|_| ConsoleError::BadForm)?;
    let filter = q.filter(&staff.tenant.time_zone())?;
    let mut friends: Vec<Friend> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = deps
            .store
            .list_friends(&staff.tenant.id, &filter, EXPORT_PAGE, cursor.as_deref())
            .await
            .map_err(crate::http::CrmError::from)?;
        friends.extend(page.friends);
        if friends.len() > MAX_EXPORT_ROWS {
            return Err(ConsoleError::TooManyRows);
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    let day = deps
        .clock
        .now()
        .to_zoned(staff.tenant.time_zone())
        .strftime("%Y%m%d")
        .to_string();
    let l = staff.lang.labels();
    let zone = staff.tenant.time_zone();
    // A column per custom field any of them has, in name order, after the fixed ones.
    let fields: BTreeSet<&str> = friends
        .iter()
        .flat_map(|f| f.fields.keys().map(String::as_str))
        .collect();
    let mut header = vec![
        "LINE user ID",
        l.display_name,
        l.followed_at,
        l.blocked,
        l.route,
        l.tags,
    ];
    header.extend(fields.iter().copied());
    let rows = friends.iter().map(|f| {
        let tags: Vec<&str> = f.tags.keys().map(TagName::as_str).collect();
        let mut row = vec![
            f.user_id.as_str().to_owned(),
            display_name(f),
            local(f.followed_at, &zone),
            if f.blocked { l.yes } else { l.no }.to_owned(),
            f.route.clone().unwrap_or_default(),
            // Tags are one cell: "; " never splits a cell and reads as a list.
            tags.join("; "),
        ];
        row.extend(
            fields
                .iter()
                .map(|k| f.fields.get(*k).cloned().unwrap_or_default()),
        );
        row
    });
    csv_download(&format!("friends-{day}.csv"), &header, rows)
}
