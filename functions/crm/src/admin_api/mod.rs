//! The admin API: JSON over the HTTP API, `Authorization: Bearer <api key>`. A tenant key sees
//! only its own tenant (the tenant comes from the key, never from the URL, see [`auth::Caller`]);
//! the operator key creates tenants. This file is the routing table; each resource has its file.
mod api_keys;
mod auth;
mod body;
mod broadcasts;
mod deferred;
mod definitions;
mod dormancy;
mod fields;
mod friends;
mod links;
mod purchases;
mod rules;
mod scenarios;
mod staff;
mod surveys;
mod tags;
mod tenants;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{delete, get, patch, post, put},
};

pub use api_keys::MAX_ACTIVE_KEYS;
pub use auth::{hash_key, key_listing, key_prefix, new_api_key};
pub use tenants::webhook_url;

use crate::{
    deps::Deps,
    domain::{
        auto_reply::AutoReply, scenario::ScenarioDefinition, survey::SurveyDefinition,
        tag_rule::TagRule,
    },
    http::CrmError,
};

/// A request body's limit: a definition is stored as one item (DynamoDB's 400 KB), so a
/// larger body can only be refused later, after reading and parsing it.
pub const MAX_BODY_BYTES: usize = 400 * 1024;

/// A purchase CSV: 20,000 lines of order rows (the import's line limit) fit in this, and it
/// stays under the 6 MB that Lambda takes in one request.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

pub fn router(deps: Deps) -> Router {
    Router::new()
        .route("/admin/tenants", post(tenants::create))
        .route(
            "/admin/tenants/{id}/credentials",
            put(tenants::rotate_credentials),
        )
        .route(
            "/admin/tenants/{id}/api-keys",
            post(api_keys::create_for_tenant).get(api_keys::list_for_tenant),
        )
        .route("/admin/tenants/{id}/owner", post(staff::create_owner))
        .route(
            "/admin/tenants/{id}/api-keys/{key}",
            delete(api_keys::revoke_for_tenant),
        )
        .route("/admin/tenant", get(tenants::own).patch(tenants::update))
        .route("/admin/dashboard", get(tenants::dashboard))
        .route(
            "/admin/api-keys",
            post(api_keys::create).get(api_keys::list),
        )
        .route("/admin/api-keys/{id}", delete(api_keys::revoke))
        .route("/admin/tenant/quota/retry", post(deferred::retry_quota))
        .route("/admin/deferred", get(deferred::list))
        .route("/admin/friends", get(friends::list))
        .route("/admin/friends/bulk-tags", post(friends::bulk_tags))
        .route("/admin/friends/{user_id}", get(friends::one))
        .route("/admin/friends/{user_id}/tags", post(friends::add_tags))
        .route(
            "/admin/friends/{user_id}/tags/{tag}",
            delete(friends::remove_tag),
        )
        .route(
            "/admin/friends/{user_id}/fields",
            patch(friends::set_fields),
        )
        .route(
            "/admin/friends/{user_id}/enrollments",
            get(scenarios::friend_enrollments),
        )
        .route(
            "/admin/friends/{user_id}/enrollments/{scenario}",
            delete(scenarios::unenroll),
        )
        .route(
            "/admin/friends/{user_id}/deliveries",
            get(scenarios::friend_deliveries),
        )
        .route(
            "/admin/broadcasts",
            post(broadcasts::create).get(broadcasts::list),
        )
        .route("/admin/broadcasts/audience", post(broadcasts::audience))
        .route("/admin/broadcasts/{id}", get(broadcasts::report))
        .route("/admin/broadcasts/{id}/cancel", post(broadcasts::cancel))
        .route(
            "/admin/scenarios",
            get(definitions::list::<ScenarioDefinition>),
        )
        .route(
            "/admin/scenarios/{id}",
            put(definitions::save::<ScenarioDefinition>)
                .get(definitions::one::<ScenarioDefinition>)
                .delete(scenarios::retire),
        )
        .route("/admin/scenarios/{id}/versions", get(scenarios::versions))
        .route("/admin/scenarios/{id}/migrate", post(scenarios::migrate))
        .route("/admin/scenarios/{id}/journey", post(scenarios::journey))
        .route(
            "/admin/scenarios/{id}/enrollments",
            post(scenarios::enroll_friend),
        )
        .route("/admin/surveys", get(definitions::list::<SurveyDefinition>))
        .route(
            "/admin/surveys/{id}",
            put(definitions::save::<SurveyDefinition>)
                .get(definitions::one::<SurveyDefinition>)
                .delete(surveys::remove),
        )
        .route("/admin/surveys/{id}/link", get(surveys::form_link))
        .route(
            "/admin/friends/{user_id}/answers",
            get(surveys::friend_answers),
        )
        .route("/admin/purchases", post(purchases::create))
        .route(
            "/admin/purchases/import",
            post(purchases::import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route(
            "/admin/friends/{user_id}/purchases",
            get(purchases::friend_purchases),
        )
        .route("/admin/rules", get(rules::list::<TagRule>))
        .route(
            "/admin/rules/{id}",
            put(rules::save::<TagRule>).delete(rules::remove::<TagRule>),
        )
        .route("/admin/auto-replies", get(rules::list::<AutoReply>))
        .route(
            "/admin/auto-replies/{id}",
            put(rules::save::<AutoReply>).delete(rules::remove::<AutoReply>),
        )
        .route(
            "/admin/settings/scoring",
            get(rules::scoring).put(rules::set_scoring),
        )
        .route("/l/{tenant}/{link}", get(links::open))
        .route("/admin/links/{link}", get(links::make))
        .route(
            "/forms/{tenant}/{survey}",
            get(crate::forms::show).post(crate::forms::submit),
        )
        .route(
            "/admin/dormancy",
            get(dormancy::settings).put(dormancy::save),
        )
        .route("/admin/reports/reactivation", get(dormancy::reactivation))
        .route("/admin/fields", get(fields::list))
        .route(
            "/admin/fields/{name}",
            put(fields::define).delete(fields::undefine),
        )
        .route("/admin/tags", get(tags::list))
        .route(
            "/admin/tags/{tag}",
            put(tags::define).delete(tags::undefine),
        )
        .fallback(|| async { CrmError::NotFound("route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(crate::http::json_errors))
        .with_state(deps)
}
