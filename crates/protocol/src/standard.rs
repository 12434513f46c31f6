//! The standard Fieldsync entity types: the 25 of the product brief plus `sync_conflicts`,
//! the server-written conflict log.
//!
//! Read this table as the data model: each entry says what a record holds, what it points
//! at, who sees it, and who may change which fields.

use crate::registry::FieldDefault::{CurrentUser, ListPrice, Now, PromotionDiscount, Sequence, Text as Fixed, Today};
use crate::registry::FieldStrategy::{Append, Counter, ServerOnly};
use crate::registry::FieldType::{Bool, Date, Enum, Int, Real, Ref, Text, Timestamp};
use crate::registry::Role::{Manager, Rep, Shipper};
use crate::registry::{Access, Check, EntityDef, FieldDef as F, Role, Scope, StateMachine, Transition};

const FIELD_STAFF: &[Role] = &[Rep, Manager];
const EVERYONE: &[Role] = &[Rep, Manager, Shipper];
const SALES_WRITE: &[Access] = &[Access::full(Rep), Access::full(Manager)];
const NOBODY: &[Access] = &[];

const fn lww(
    name: &'static str,
    fields: &'static [F],
    scope: Scope,
    readers: &'static [Role],
    writers: &'static [Access],
) -> EntityDef {
    EntityDef::new(name, fields, scope, readers, writers)
}

const fn server_owned(name: &'static str, fields: &'static [F], scope: Scope, readers: &'static [Role]) -> EntityDef {
    EntityDef::new(name, fields, scope, readers, NOBODY).server_owned()
}

pub const ORDER_STATUSES: &[&str] = &["draft", "submitted", "approved", "rejected", "delivered", "cancelled"];

/// The order lifecycle: a rep builds a draft and submits it (prices and stock are checked
/// then); a manager of the rep's team approves or rejects it; a rejected order goes back
/// to draft for fixing; approved orders are delivered or cancelled.
pub const ORDER_LIFECYCLE: StateMachine = StateMachine {
    field: "status",
    initial: &["draft"],
    editable_in: &["draft"],
    transitions: &[
        Transition {
            from: "draft",
            to: "submitted",
            roles: &[Rep],
            checks: &[Check::ReferencesActive, Check::PricesCurrent, Check::StockAvailable],
        },
        Transition { from: "draft", to: "cancelled", roles: &[Rep, Manager], checks: &[] },
        Transition { from: "submitted", to: "approved", roles: &[Manager], checks: &[] },
        Transition { from: "submitted", to: "rejected", roles: &[Manager], checks: &[] },
        Transition { from: "submitted", to: "draft", roles: &[Rep], checks: &[] },
        Transition { from: "rejected", to: "draft", roles: &[Rep], checks: &[] },
        Transition { from: "rejected", to: "cancelled", roles: &[Rep, Manager], checks: &[] },
        Transition { from: "approved", to: "delivered", roles: &[Manager], checks: &[] },
        Transition { from: "approved", to: "cancelled", roles: &[Manager], checks: &[] },
    ],
};

pub const ENTITIES: &[EntityDef] = &[
    server_owned(
        "territories",
        &[F::new("code", Text).required().unique(), F::new("name", Text).required()],
        Scope::Territory("id"),
        EVERYONE,
    )
    .key(&["code"]),
    server_owned(
        "users",
        &[
            F::new("username", Text).required().unique(),
            F::new("display_name", Text).required(),
            F::new("role", Enum(&["rep", "manager", "shipper"])).required(),
            F::new("manager_id", Ref("users")),
        ],
        Scope::Team("id"),
        EVERYONE,
    )
    .key(&["username"])
    .not_imported(),
    lww(
        "customers",
        &[
            F::new("code", Text).required().unique().max_bytes(64),
            F::new("name", Text).required(),
            F::new("territory_id", Ref("territories")).required(),
            F::new("price_list_id", Ref("price_lists")),
            F::new("phone", Text),
            F::new("email", Text),
            F::new("city", Text),
            F::new("credit_limit_cents", Int).min(0),
            F::new("notes", Text).max_bytes(16 * 1024),
            F::new("samples_given", Int).strategy(Counter).min(0),
            // false: archived by the office (no new orders); empty means active.
            F::new("active", Bool),
        ],
        Scope::Territory("territory_id"),
        EVERYONE,
        &[
            // The price list and credit limit are a manager's decision: a rep sets neither,
            // on a new customer or an existing one.
            Access {
                role: Rep,
                create: Some(crate::Fields::Only(&[
                    "code",
                    "name",
                    "territory_id",
                    "phone",
                    "email",
                    "city",
                    "notes",
                    "samples_given",
                ])),
                update: Some(crate::Fields::Only(&["name", "phone", "email", "city", "notes", "samples_given"])),
                delete: false,
            },
            Access::full(Manager),
        ],
    )
    .key(&["code"])
    .active_field("active"),
    lww(
        "contacts",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("name", Text).required(),
            F::new("job_title", Text),
            F::new("phone", Text),
            F::new("email", Text),
        ],
        Scope::Via("customer_id"),
        EVERYONE,
        SALES_WRITE,
    ),
    lww(
        "addresses",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("kind", Enum(&["billing", "shipping"])).required(),
            F::new("street", Text).required(),
            F::new("city", Text).required(),
            F::new("postal_code", Text),
            F::new("country", Text),
        ],
        Scope::Via("customer_id"),
        EVERYONE,
        &[Access::full(Rep), Access::full(Manager), Access::update_only(Shipper, &["street", "city", "postal_code"])],
    ),
    server_owned(
        "product_categories",
        &[F::new("code", Text).required().unique(), F::new("name", Text).required()],
        Scope::Category("id"),
        FIELD_STAFF,
    )
    .key(&["code"]),
    server_owned(
        "products",
        &[
            F::new("sku", Text).required().unique(),
            F::new("name", Text).required(),
            F::new("category_id", Ref("product_categories")).required(),
            F::new("unit", Text),
            F::new("active", Bool),
        ],
        Scope::Category("category_id"),
        FIELD_STAFF,
    )
    .key(&["sku"])
    .active_field("active"),
    server_owned(
        "price_lists",
        &[
            F::new("code", Text).required().unique(),
            F::new("name", Text).required(),
            F::new("currency", Text).required(),
        ],
        Scope::All,
        FIELD_STAFF,
    )
    .key(&["code"]),
    server_owned(
        "price_list_items",
        &[
            F::new("price_list_id", Ref("price_lists")).required(),
            F::new("product_id", Ref("products")).required(),
            F::new("unit_price_cents", Int).required().min(0),
        ],
        Scope::Via("product_id"),
        FIELD_STAFF,
    )
    .key(&["price_list_id", "product_id"]),
    server_owned(
        "promotions",
        &[
            F::new("product_id", Ref("products")).required(),
            F::new("name", Text).required(),
            F::new("discount_pct", Real).required().min(0).max(100),
            F::new("starts_on", Date).required(),
            F::new("ends_on", Date).required(),
        ],
        Scope::Via("product_id"),
        FIELD_STAFF,
    )
    .key(&["product_id", "name", "starts_on"]),
    server_owned(
        "warehouses",
        &[F::new("code", Text).required().unique(), F::new("name", Text).required(), F::new("city", Text)],
        Scope::All,
        EVERYONE,
    )
    .key(&["code"]),
    server_owned(
        "inventory_levels",
        &[
            F::new("warehouse_id", Ref("warehouses")).required(),
            F::new("product_id", Ref("products")).required(),
            F::new("on_hand", Int).required().min(0),
            F::new("reserved", Int).required().min(0),
        ],
        Scope::Via("product_id"),
        FIELD_STAFF,
    )
    .key(&["warehouse_id", "product_id"]),
    lww(
        "orders",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("rep_id", Ref("users")).required().default(CurrentUser),
            F::new("status", Enum(ORDER_STATUSES)).required().default(Fixed("draft")),
            F::new("order_date", Date).required().default(Today),
            F::new("notes", Text).max_bytes(16 * 1024),
            F::new("total_cents", Int).min(0),
            F::new("flags", Text).strategy(ServerOnly),
            // Last: columns follow the registry's order, and migrations add columns at
            // the end.
            F::new("number", Text).default(Sequence).unique().max_bytes(32),
        ],
        Scope::Team("rep_id"),
        FIELD_STAFF,
        &[Access::full_but(Rep, &["number"]), Access::update_only(Manager, &["status"])],
    )
    .state_machine(&ORDER_LIFECYCLE),
    lww(
        "order_lines",
        &[
            F::new("order_id", Ref("orders")).required(),
            F::new("product_id", Ref("products")).required(),
            // A line without a valid quantity and price is refused; the price is checked
            // against the customer's price list when the order is submitted.
            F::new("quantity", Int).required().min(1).max(1_000_000),
            F::new("unit_price_cents", Int).required().default(ListPrice).min(0),
            F::new("discount_pct", Real).default(PromotionDiscount).min(0).max(100),
            F::new("flags", Text).strategy(ServerOnly),
        ],
        Scope::Via("order_id"),
        FIELD_STAFF,
        &[Access::full(Rep)],
    )
    .frozen_with("order_id"),
    lww(
        "order_reviews",
        &[
            F::new("order_id", Ref("orders")).required(),
            F::new("reviewer_id", Ref("users")).required().default(CurrentUser),
            F::new("decision", Enum(&["approved", "rejected"])).required(),
            F::new("comment", Text),
            F::new("reviewed_at", Timestamp).required().default(Now),
        ],
        Scope::Via("order_id"),
        FIELD_STAFF,
        &[Access::create_only(Manager)],
    )
    // A review stands only beside the status change it records.
    .records_state_of("order_id", "decision"),
    lww(
        "visits",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("rep_id", Ref("users")).required().default(CurrentUser),
            F::new("visited_at", Timestamp).required().default(Now),
            F::new("outcome", Enum(&["order_taken", "follow_up", "no_interest", "not_met"])),
            F::new("notes", Text).strategy(Append),
        ],
        Scope::Team("rep_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "visit_plans",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("rep_id", Ref("users")).required().default(CurrentUser),
            F::new("planned_on", Date).required(),
            F::new("purpose", Text),
            F::new("status", Enum(&["planned", "done", "skipped"])).required().default(Fixed("planned")),
        ],
        // A plan is the rep's, for a customer the rep still covers.
        Scope::AllOf(&[Scope::Team("rep_id"), Scope::Via("customer_id")]),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "tasks",
        &[
            F::new("customer_id", Ref("customers")),
            F::new("assignee_id", Ref("users")).required().default(CurrentUser),
            F::new("visit_id", Ref("visits")),
            F::new("title", Text).required(),
            F::new("due_on", Date),
            F::new("done", Bool),
            F::new("comments", Text).strategy(Append),
        ],
        Scope::Team("assignee_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    server_owned(
        "invoices",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("number", Text).required().unique(),
            F::new("issued_on", Date).required(),
            F::new("due_on", Date).required(),
            F::new("amount_cents", Int).required().min(0),
            F::new("open_cents", Int).required().min(0),
            // The order the invoice bills, when the ERP says so.
            F::new("order_id", Ref("orders")),
        ],
        Scope::Via("customer_id"),
        FIELD_STAFF,
    )
    .key(&["number"]),
    lww(
        "payments",
        &[
            F::new("invoice_id", Ref("invoices")).required(),
            F::new("amount_cents", Int).required().min(1),
            F::new("paid_on", Date).required(),
            F::new("method", Enum(&["cash", "cheque", "transfer", "card"])).required(),
        ],
        Scope::Via("invoice_id"),
        FIELD_STAFF,
        &[Access::create_only(Rep), Access::full(Manager)],
    ),
    lww(
        "returns",
        &[
            F::new("customer_id", Ref("customers")).required(),
            F::new("order_id", Ref("orders")),
            F::new("reason", Text).required(),
            F::new("status", Enum(&["requested", "accepted", "refused"])).required().default(Fixed("requested")),
            F::new("created_on", Date).required().default(Today),
        ],
        Scope::Via("customer_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "return_lines",
        &[
            F::new("return_id", Ref("returns")).required(),
            F::new("product_id", Ref("products")).required(),
            F::new("quantity", Int).required().min(1).max(1_000_000),
        ],
        Scope::Via("return_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "samples",
        &[
            F::new("visit_id", Ref("visits")).required(),
            F::new("product_id", Ref("products")).required(),
            F::new("quantity", Int).required().min(1).max(1_000_000),
        ],
        Scope::Via("visit_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "competitor_observations",
        &[
            F::new("visit_id", Ref("visits")).required(),
            F::new("competitor", Text).required(),
            F::new("product_id", Ref("products")),
            F::new("observed_price_cents", Int).min(0),
            F::new("notes", Text).max_bytes(16 * 1024),
        ],
        Scope::Via("visit_id"),
        FIELD_STAFF,
        SALES_WRITE,
    ),
    lww(
        "deliveries",
        &[
            F::new("order_id", Ref("orders")).required(),
            F::new("address_id", Ref("addresses")).required(),
            F::new("shipper_id", Ref("users")).required(),
            F::new("status", Enum(&["scheduled", "out_for_delivery", "delivered", "failed"])).required(),
            F::new("scheduled_on", Date).required(),
            F::new("delivered_at", Timestamp),
        ],
        Scope::AnyOf(&[Scope::Team("shipper_id"), Scope::Via("order_id")]),
        &[Manager, Shipper],
        &[Access::update_only(Shipper, &["status", "delivered_at"]), Access::full(Manager)],
    ),
    server_owned(
        "sync_conflicts",
        &[
            F::new("entity", Text).required(),
            F::new("record_id", Text).required(),
            F::new("field", Text).required(),
            F::new("kept", Text),
            F::new("overwritten", Text),
            F::new("kept_by", Text).required(),
            F::new("overwritten_by", Text).required(),
            F::new("kept_by_id", Ref("users")).required(),
            F::new("overwritten_by_id", Ref("users")).required(),
            F::new("at", Timestamp).required(),
        ],
        // The team of either writer, and only while the record it is about is visible: a
        // record that moves away takes its conflicts with it.
        Scope::AllOf(&[
            Scope::AnyOf(&[Scope::Team("kept_by_id"), Scope::Team("overwritten_by_id")]),
            Scope::Record { entity: "entity", id: "record_id" },
        ]),
        EVERYONE,
    ),
];

#[cfg(test)]
mod tests {
    use crate::Registry;

    #[test]
    fn standard_registry_has_the_products_25_types_plus_the_conflict_log() {
        let reg = Registry::standard();
        assert_eq!(reg.entities().len(), 26);
        assert!(reg.get("sync_conflicts").is_some());
        assert!(reg.get("deliveries").is_some_and(|d| !d.readable_by(crate::Role::Rep)));
    }
}
