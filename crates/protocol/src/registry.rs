//! The entity registry: a declarative description of every synced type.
//!
//! Sync code on both sides is written once against these declarations; adding an entity
//! type is a new [`EntityDef`] plus a migration creating its table, nothing else.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A user's role; decides which entity types the user reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Rep,
    Manager,
    Shipper,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Rep, Role::Manager, Role::Shipper];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Shipper => "shipper",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a field, as stored in SQLite and carried in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text (JSON string, SQL TEXT).
    Text,
    /// Whole number (JSON integer, SQL INTEGER). Money is integer cents in `*_cents` fields.
    Int,
    /// Decimal number such as a percentage (JSON number, SQL REAL).
    Real,
    /// true/false (JSON bool, SQL INTEGER 0/1).
    Bool,
    /// Calendar date `YYYY-MM-DD` (JSON string, SQL TEXT).
    Date,
    /// Instant in RFC 3339 UTC, e.g. `2026-11-25T14:00:00Z` (JSON string, SQL TEXT).
    Timestamp,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// The id (UUID string) of a record of the named entity type.
    Ref(&'static str),
}

impl FieldType {
    /// Short human name used in error messages.
    pub fn describe(&self) -> String {
        match self {
            FieldType::Text => "text".into(),
            FieldType::Int => "a whole number".into(),
            FieldType::Real => "a number".into(),
            FieldType::Bool => "true or false".into(),
            FieldType::Date => "a date (YYYY-MM-DD)".into(),
            FieldType::Timestamp => "a timestamp (YYYY-MM-DDTHH:MM:SSZ)".into(),
            FieldType::Enum(values) => format!("one of {}", values.join(", ")),
            FieldType::Ref(entity) => format!("the id of a {entity} record"),
        }
    }
}

/// How concurrent writes to one field combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldStrategy {
    /// Last write wins, by edit time in server time; the loser goes to the conflict log.
    Lww,
    /// Text that only grows: a write carries the text to add, and concurrent additions
    /// are all kept (visit notes, task comments).
    Append,
    /// A number where a sum is meant: a write carries the delta, and concurrent deltas
    /// add up.
    Counter,
    /// Written by the server only (flags it raises, totals it computes); a client write
    /// is refused.
    ServerOnly,
}

/// What a client fills in when a new record leaves the field out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDefault {
    /// The signed-in user's id.
    CurrentUser,
    /// Today's date (client clock).
    Today,
    /// The current instant (client clock).
    Now,
    /// A fixed text value.
    Text(&'static str),
    /// The price of the record's `product_id` on the price list of its order's customer
    /// (see `fieldsync_sqlkit::pricing`).
    ListPrice,
    /// The discount of the product's promotion active today, or 0.
    PromotionDiscount,
    /// The next number of this client's own sequence, `PREFIX-0042`: the prefix the
    /// server gave the client at sign-in and a counter the client keeps. Unique across
    /// clients without asking the server, so a number is shown offline too. Numbers may be
    /// skipped (a crash between counting and saving) but are never given twice.
    Sequence,
}

/// Longest value (UTF-8 bytes) of a text field that declares no `max_bytes`.
pub const DEFAULT_MAX_TEXT_BYTES: u32 = 4 * 1024;
/// Longest text one write may add to an append-only field.
pub const MAX_APPEND_BYTES: u32 = 16 * 1024;
/// Longest an append-only field may grow, unless it declares `max_bytes`.
pub const DEFAULT_MAX_APPENDED_BYTES: u32 = 256 * 1024;

/// One field of an entity. The `id` primary key is implicit and not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    /// Must be present and non-null when a record is created (after defaults).
    pub required: bool,
    pub default: Option<FieldDefault>,
    pub strategy: FieldStrategy,
    /// Smallest and largest value a number field may hold (a counter: its total).
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Longest value of a text field, in UTF-8 bytes (`None`: the defaults above).
    pub max_bytes: Option<u32>,
    /// No two records of the type may hold the same non-null value.
    pub unique: bool,
}

impl FieldDef {
    pub const fn new(name: &'static str, ty: FieldType) -> Self {
        FieldDef {
            name,
            ty,
            required: false,
            default: None,
            strategy: FieldStrategy::Lww,
            min: None,
            max: None,
            max_bytes: None,
            unique: false,
        }
    }

    /// The field's name for people: `phone` → "Phone", `credit_limit_cents` → "Credit limit",
    /// `price_list_id` → "Price list". For what users read (forms, the conflict log).
    pub fn label(&self) -> String {
        let base = ["_id", "_cents", "_ms"].iter().find_map(|s| self.name.strip_suffix(s)).unwrap_or(self.name);
        let words = base.replace('_', " ");
        let mut chars = words.chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
    }

    /// The smallest value allowed.
    pub const fn min(mut self, min: i64) -> Self {
        self.min = Some(min);
        self
    }

    /// The largest value allowed.
    pub const fn max(mut self, max: i64) -> Self {
        self.max = Some(max);
        self
    }

    /// The longest text allowed, in UTF-8 bytes.
    pub const fn max_bytes(mut self, n: u32) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// Values are unique across the type's records.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// The longest text the field may hold (`None` for fields that are not text).
    pub fn text_limit(&self) -> Option<usize> {
        let fallback = match (self.ty, self.strategy) {
            (FieldType::Text, FieldStrategy::Append) => DEFAULT_MAX_APPENDED_BYTES,
            (FieldType::Text, _) => DEFAULT_MAX_TEXT_BYTES,
            _ => return None,
        };
        Some(self.max_bytes.unwrap_or(fallback) as usize)
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub const fn default(mut self, d: FieldDefault) -> Self {
        self.default = Some(d);
        self
    }

    pub const fn strategy(mut self, s: FieldStrategy) -> Self {
        self.strategy = s;
        self
    }

    /// The entity this field refers to, if it is a foreign key.
    pub fn references(&self) -> Option<&'static str> {
        match self.ty {
            FieldType::Ref(e) => Some(e),
            _ => None,
        }
    }
}

/// Which records of an entity type a user may see (and, by the same rule, write).
///
/// The server compiles a scope into a SQL predicate; see `fieldsync-server`'s `rules`.
/// "Territories of the user" means the user's own territory assignments, plus those of the
/// reps they manage; "team" means the user plus the users they manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every record (reference data such as price lists and warehouses).
    All,
    /// The field holds a territory id that is one of the user's territories.
    Territory(&'static str),
    /// The field holds a product category id assigned to one of the user's territories.
    Category(&'static str),
    /// The field holds the id of a user on the user's team.
    Team(&'static str),
    /// The field references a record of another entity, and that record is visible.
    Via(&'static str),
    /// The record this one is about is visible: `entity` names a text field holding an
    /// entity type's name and `id` one holding the record's id (a log about records of any
    /// type, such as the conflict log).
    Record { entity: &'static str, id: &'static str },
    /// Visible if any of the listed scopes grants it.
    AnyOf(&'static [Scope]),
    /// Visible only if every listed scope grants it.
    AllOf(&'static [Scope]),
}

/// Which fields a grant lets a role change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    All,
    Only(&'static [&'static str]),
    /// Every field but these.
    AllBut(&'static [&'static str]),
}

impl Fields {
    pub fn contains(&self, field: &str) -> bool {
        match self {
            Fields::All => true,
            Fields::Only(list) => list.contains(&field),
            Fields::AllBut(list) => !list.contains(&field),
        }
    }
}

/// What one role may do to records of an entity type that are in its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    /// Create records, setting these fields (`None`: may not create). A field left out
    /// of a new record takes its default or stays empty.
    pub create: Option<Fields>,
    /// Change these fields of existing records (`None`: may not update).
    pub update: Option<Fields>,
    pub delete: bool,
}

impl Access {
    /// Create, update any field, delete.
    pub const fn full(role: Role) -> Self {
        Access { role, create: Some(Fields::All), update: Some(Fields::All), delete: true }
    }

    /// Create and delete; update every field but `fixed`, which are set once, at creation
    /// (an order's number).
    pub const fn full_but(role: Role, fixed: &'static [&'static str]) -> Self {
        Access { role, create: Some(Fields::All), update: Some(Fields::AllBut(fixed)), delete: true }
    }

    /// Update the listed fields of existing records only.
    pub const fn update_only(role: Role, fields: &'static [&'static str]) -> Self {
        Access { role, create: None, update: Some(Fields::Only(fields)), delete: false }
    }

    /// Create records only (append-only data such as reviews and payments).
    pub const fn create_only(role: Role) -> Self {
        Access { role, create: Some(Fields::All), update: None, delete: false }
    }
}

/// How concurrent edits to one record are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Last write wins per field, by edit time in server time; losers go to the conflict log.
    LwwPerField,
    /// Only the server writes these records; clients converge to the server's value.
    ServerOwned,
}

/// A check the server runs when a record enters a state (see the server's `checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every line's price and discount still match the price list and promotions; if not,
    /// the transition is refused and the lines are flagged with the old and new price.
    PricesCurrent,
    /// Ordered quantities are in stock; if not, the record is flagged (not refused).
    StockAvailable,
    /// Every record this one refers to is active (see [`EntityDef::active_field`]): an
    /// order for a customer the office archived is refused, with the customer named.
    ReferencesActive,
}

/// One allowed move of a state field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static str,
    pub to: &'static str,
    /// Who may make the move (on records in their scope).
    pub roles: &'static [Role],
    pub checks: &'static [Check],
}

/// A lifecycle enforced on one field: only listed transitions happen, and the record's
/// other fields (and its children's, see [`EntityDef::frozen_with`]) change only in the
/// editable states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateMachine {
    pub field: &'static str,
    /// States a new record may start in.
    pub initial: &'static [&'static str],
    pub editable_in: &'static [&'static str],
    pub transitions: &'static [Transition],
}

impl StateMachine {
    /// Checks a move of a record (`entity`: its noun, for the reason), returning the reason
    /// it is refused.
    pub fn check(&self, entity: &str, from: &str, to: &str, role: Role) -> Result<&Transition, String> {
        if from == to {
            return Err(format!("The {entity} is already {to}."));
        }
        let Some(t) = self.transitions.iter().find(|t| t.from == from && t.to == to) else {
            let next: Vec<&str> = self.transitions.iter().filter(|t| t.from == from).map(|t| t.to).collect();
            let options = if next.is_empty() {
                "it cannot change any more".to_string()
            } else {
                format!("it can only become {}", next.join(" or "))
            };
            return Err(format!("A {from} {entity} cannot become {to}; {options}."));
        };
        if !t.roles.contains(&role) {
            return Err(format!("As a {role} you may not move this {entity} from {from} to {to}."));
        }
        Ok(t)
    }

    /// The states a record in `from` may move to for `role`.
    pub fn next_states(&self, from: &str, role: Role) -> Vec<&'static str> {
        self.transitions.iter().filter(|t| t.from == from && t.roles.contains(&role)).map(|t| t.to).collect()
    }
}

/// The declaration of one synced entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityDef {
    /// Table name on both sides and the name used on the wire and in the CLI.
    pub name: &'static str,
    pub fields: &'static [FieldDef],
    pub scope: Scope,
    /// Roles that receive records of this type at all.
    pub readers: &'static [Role],
    /// Roles that may write, and how. A role not listed may not write.
    pub writers: &'static [Access],
    pub strategy: Strategy,
    pub state_machine: Option<&'static StateMachine>,
    /// A reference field whose parent's state machine also freezes this record: children
    /// (order lines) change only while the parent (order) is editable.
    pub frozen_with: Option<&'static str>,
    /// `(link, field)`: each record states the state its parent (through reference `link`)
    /// moved to, in `field` (a review's decision). It may only be created while the parent
    /// is in that state, so a decision whose state change was refused is refused with it:
    /// the pair applies whole or not at all.
    pub records_state_of: Option<(&'static str, &'static str)>,
    /// The business key: the fields that name a record outside Fieldsync (a customer's
    /// `code`, a price list item's price list and product). Import upserts by it, and a
    /// reference in an import file may give the referenced record's key instead of its id
    /// (when that key is a single field). `None`: records are known by id only.
    pub key: Option<&'static [&'static str]>,
    /// Whether `fieldsync-server import` loads this type (it needs a key). Users are keyed
    /// by user name but come with passwords and assignments: `user add` makes them.
    pub importable: bool,
    /// A true/false field that retires a record without deleting it: `false` means
    /// inactive (a discontinued product, an archived customer). Nothing new may refer to
    /// an inactive record, and an import's `--delete-missing` sets it instead of deleting.
    pub active_field: Option<&'static str>,
}

impl EntityDef {
    /// A last-write-wins entity type with no lifecycle.
    pub const fn new(
        name: &'static str,
        fields: &'static [FieldDef],
        scope: Scope,
        readers: &'static [Role],
        writers: &'static [Access],
    ) -> Self {
        EntityDef {
            name,
            fields,
            scope,
            readers,
            writers,
            strategy: Strategy::LwwPerField,
            state_machine: None,
            frozen_with: None,
            records_state_of: None,
            key: None,
            importable: false,
            active_field: None,
        }
    }

    /// Records of this type state the state the parent behind `link` moved to, in `field`.
    pub const fn records_state_of(mut self, link: &'static str, field: &'static str) -> Self {
        self.records_state_of = Some((link, field));
        self
    }

    /// Declares the business key; the type becomes importable.
    pub const fn key(mut self, fields: &'static [&'static str]) -> Self {
        self.key = Some(fields);
        self.importable = true;
        self
    }

    /// Keyed, but not loaded by `import` (see [`EntityDef::importable`]).
    pub const fn not_imported(mut self) -> Self {
        self.importable = false;
        self
    }

    /// Records are retired by setting this true/false field to false.
    pub const fn active_field(mut self, field: &'static str) -> Self {
        self.active_field = Some(field);
        self
    }

    /// Whether the record (as a JSON object) is retired: its active field holds false.
    pub fn is_inactive(&self, record: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.active_field.is_some_and(|f| record.get(f) == Some(&serde_json::Value::Bool(false)))
    }

    /// One record of this type in people's words: `order_lines` → "order line",
    /// `deliveries` → "delivery", `addresses` → "address". For messages users read.
    pub fn noun(&self) -> String {
        let name = self.name;
        let singular = if let Some(stem) = name.strip_suffix("ies") {
            format!("{stem}y")
        } else if let Some(stem) = name.strip_suffix("sses") {
            format!("{stem}ss")
        } else {
            name.strip_suffix('s').unwrap_or(name).to_string()
        };
        singular.replace('_', " ")
    }

    /// One record of this type with its article: "a customer", "an order".
    pub fn a_noun(&self) -> String {
        let noun = self.noun();
        let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        format!("{article} {noun}")
    }

    /// Records of this type in people's words: `price_list_items` → "price list items".
    pub fn plural(&self) -> String {
        self.name.replace('_', " ")
    }

    /// The one field that names a record, when the key is a single text field (a code):
    /// a reference in a file may use it, and exports write it in place of ids.
    pub fn code_field(&self) -> Option<&'static str> {
        match self.key {
            Some([only]) if self.field(only).is_some_and(|f| f.ty == FieldType::Text) => Some(only),
            _ => None,
        }
    }

    /// The entity types whose records live inside this one's (order lines in an order):
    /// those frozen with a reference to it.
    pub fn children<'r>(&self, reg: &'r Registry) -> impl Iterator<Item = &'r EntityDef> + 'r {
        let name = self.name;
        reg.entities()
            .iter()
            .filter(move |c| c.frozen_with.and_then(|link| c.field(link)).and_then(FieldDef::references) == Some(name))
    }

    /// Only the server writes records of this type.
    pub const fn server_owned(mut self) -> Self {
        self.strategy = Strategy::ServerOwned;
        self.writers = &[];
        self
    }

    pub const fn state_machine(mut self, sm: &'static StateMachine) -> Self {
        self.state_machine = Some(sm);
        self
    }

    pub const fn frozen_with(mut self, field: &'static str) -> Self {
        self.frozen_with = Some(field);
        self
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn readable_by(&self, role: Role) -> bool {
        self.readers.contains(&role)
    }

    pub fn access(&self, role: Role) -> Option<&Access> {
        if self.strategy == Strategy::ServerOwned {
            return None;
        }
        self.writers.iter().find(|a| a.role == role)
    }

    /// Field names in declaration order (without `id`).
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }
}

/// The set of entity types known to one deployment.
#[derive(Debug, Clone)]
pub struct Registry {
    entities: Vec<EntityDef>,
    index: HashMap<&'static str, usize>,
}

impl Registry {
    /// Builds a registry and checks it is consistent (unique names, references resolve).
    pub fn new(entities: Vec<EntityDef>) -> Result<Self, String> {
        let mut index = HashMap::new();
        for (i, e) in entities.iter().enumerate() {
            if index.insert(e.name, i).is_some() {
                return Err(format!("entity type '{}' is declared twice", e.name));
            }
        }
        let reg = Registry { entities, index };
        for e in &reg.entities {
            for f in e.fields {
                if f.name == "id" {
                    return Err(format!("{} declares 'id', which is implicit", e.name));
                }
                let number = matches!(f.ty, FieldType::Int | FieldType::Real);
                if (f.min.is_some() || f.max.is_some()) && !number {
                    return Err(format!("{}.{} has a min or max but is not a number", e.name, f.name));
                }
                if f.max_bytes.is_some() && f.ty != FieldType::Text {
                    return Err(format!("{}.{} has max_bytes but is not text", e.name, f.name));
                }
                if f.unique && f.strategy != FieldStrategy::Lww {
                    return Err(format!(
                        "{}.{} is unique, which only a plain (last-write-wins) field can be",
                        e.name, f.name
                    ));
                }
                if let Some(target) = f.references() {
                    if reg.get(target).is_none() {
                        return Err(format!("{}.{} refers to unknown entity '{target}'", e.name, f.name));
                    }
                }
            }
            reg.check_scope(e, &e.scope)?;
            reg.check_lifecycle(e)?;
            reg.check_key(e)?;
        }
        Ok(reg)
    }

    fn check_key(&self, e: &EntityDef) -> Result<(), String> {
        if let Some(active) = e.active_field {
            if e.field(active).is_none_or(|f| f.ty != FieldType::Bool) {
                return Err(format!("{}'s active field '{active}' must be a true/false field", e.name));
            }
        }
        let Some(key) = e.key else {
            return match e.importable {
                true => Err(format!("{} is importable but has no business key", e.name)),
                false => Ok(()),
            };
        };
        if key.is_empty() {
            return Err(format!("{}'s business key names no field", e.name));
        }
        for name in key {
            let Some(f) = e.field(name) else {
                return Err(format!("{}'s business key uses unknown field '{name}'", e.name));
            };
            if !f.required || f.strategy != FieldStrategy::Lww {
                return Err(format!("{}'s business key field '{name}' must be required and plain", e.name));
            }
            // A reference in a key is written in files as the referenced record's code.
            if let Some(target) = f.references() {
                if self.get(target).and_then(EntityDef::code_field).is_none() {
                    return Err(format!(
                        "{}'s business key field '{name}' refers to {target}, which has no single-field key",
                        e.name
                    ));
                }
            }
        }
        if let [only] = key {
            if e.field(only).is_some_and(|f| f.ty == FieldType::Text && !f.unique) {
                return Err(format!("{}'s business key '{only}' must be unique", e.name));
            }
        }
        Ok(())
    }

    fn check_lifecycle(&self, e: &EntityDef) -> Result<(), String> {
        if let Some(sm) = e.state_machine {
            let Some(FieldType::Enum(states)) = e.field(sm.field).map(|f| f.ty) else {
                return Err(format!("{}'s state machine needs an enum field '{}'", e.name, sm.field));
            };
            let used =
                sm.initial.iter().chain(sm.editable_in).chain(sm.transitions.iter().flat_map(|t| [&t.from, &t.to]));
            if let Some(bad) = used.into_iter().find(|s| !states.contains(s)) {
                return Err(format!(
                    "{}'s state machine uses '{bad}', which {}.{} does not allow",
                    e.name, e.name, sm.field
                ));
            }
        }
        if let Some((link, field)) = e.records_state_of {
            let parent = e.field(link).and_then(|f| f.references()).and_then(|p| self.get(p));
            if parent.is_none_or(|p| p.state_machine.is_none()) || e.field(field).is_none() {
                return Err(format!(
                    "{} records the state of '{link}' in '{field}': '{link}' must reference an entity with a state machine and '{field}' must exist",
                    e.name
                ));
            }
        }
        if let Some(link) = e.frozen_with {
            let parent = e.field(link).and_then(|f| f.references()).and_then(|p| self.get(p));
            if parent.is_none_or(|p| p.state_machine.is_none()) {
                return Err(format!(
                    "{} is frozen with '{link}', which must reference an entity with a state machine",
                    e.name
                ));
            }
        }
        Ok(())
    }

    fn check_scope(&self, e: &EntityDef, scope: &Scope) -> Result<(), String> {
        let field = match scope {
            Scope::All => return Ok(()),
            Scope::AnyOf(list) | Scope::AllOf(list) => return list.iter().try_for_each(|s| self.check_scope(e, s)),
            Scope::Territory(f) | Scope::Category(f) | Scope::Team(f) | Scope::Via(f) => f,
            Scope::Record { entity, id } => {
                return match [entity, id].into_iter().find(|f| e.field(f).is_none_or(|d| d.ty != FieldType::Text)) {
                    Some(f) => Err(format!("{}'s scope Record needs a text field '{f}'", e.name)),
                    None => Ok(()),
                }
            }
        };
        if *field != "id" && e.field(field).is_none() {
            return Err(format!("{}'s scope uses unknown field '{field}'", e.name));
        }
        if let Scope::Via(f) = scope {
            if e.field(f).and_then(|d| d.references()).is_none() {
                return Err(format!("{}'s scope Via('{f}') needs a reference field", e.name));
            }
        }
        Ok(())
    }

    /// The standard Fieldsync registry with the product's 25 entity types plus the
    /// server-owned conflict log.
    pub fn standard() -> Self {
        Registry::new(crate::standard::ENTITIES.to_vec()).expect("the standard registry is consistent")
    }

    /// Returns a registry with extra entity types added (for extensions and tests).
    pub fn with(&self, extra: &[EntityDef]) -> Result<Self, String> {
        let mut all = self.entities.clone();
        all.extend_from_slice(extra);
        Registry::new(all)
    }

    pub fn get(&self, name: &str) -> Option<&EntityDef> {
        self.index.get(name).map(|&i| &self.entities[i])
    }

    pub fn entities(&self) -> &[EntityDef] {
        &self.entities
    }

    /// Every (entity, field) that refers to `target`.
    pub fn referrers<'a>(&'a self, target: &'a str) -> impl Iterator<Item = (&'a EntityDef, &'a FieldDef)> + 'a {
        self.entities
            .iter()
            .flat_map(move |e| e.fields.iter().filter(move |f| f.references() == Some(target)).map(move |f| (e, f)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn entity_types_have_nouns_for_people() {
        let reg = Registry::standard();
        let noun = |n: &str| reg.get(n).unwrap().noun();
        assert_eq!(noun("customers"), "customer");
        assert_eq!(noun("order_lines"), "order line");
        assert_eq!(noun("deliveries"), "delivery");
        assert_eq!(noun("addresses"), "address");
        assert_eq!(noun("product_categories"), "product category");
        assert_eq!(reg.get("price_list_items").unwrap().plural(), "price list items");
        assert_eq!(
            (reg.get("orders").unwrap().a_noun(), noun("visits")),
            ("an order".to_string(), "visit".to_string())
        );
        assert_eq!(reg.get("customers").unwrap().a_noun(), "a customer");
        for e in reg.entities() {
            assert!(!e.noun().contains('_') && !e.noun().is_empty(), "{}", e.name);
        }
    }

    #[test]
    fn fields_have_labels_for_people() {
        let reg = Registry::standard();
        let label = |e: &str, f: &str| reg.get(e).unwrap().field(f).unwrap().label();
        assert_eq!(label("customers", "phone"), "Phone");
        assert_eq!(label("customers", "credit_limit_cents"), "Credit limit");
        assert_eq!(label("customers", "price_list_id"), "Price list");
        assert_eq!(label("customers", "samples_given"), "Samples given");
        for f in reg.entities().iter().flat_map(|e| e.fields) {
            assert!(!f.label().contains('_') && f.label().starts_with(|c: char| c.is_uppercase()), "{}", f.name);
        }
    }

    use super::*;
    use crate::standard::ENTITIES;

    #[test]
    fn a_state_machine_naming_an_unknown_state_is_refused() {
        const BAD: StateMachine = StateMachine {
            field: "status",
            initial: &["draft"],
            editable_in: &["draft"],
            transitions: &[Transition { from: "draft", to: "shipped", roles: &[Role::Rep], checks: &[] }],
        };
        let mut entities = ENTITIES.to_vec();
        let orders = entities.iter_mut().find(|e| e.name == "orders").unwrap();
        orders.state_machine = Some(&BAD);
        let err = Registry::new(entities).unwrap_err();
        assert!(err.contains("'shipped'"), "{err}");
    }
}
