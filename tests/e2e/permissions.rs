//! The permission matrix, generated from the registry: role × entity type × operation
//! (create, update of each field, delete) × a record of the user's own view, of a
//! teammate's, and of someone else's. Every expected outcome comes from an oracle written
//! here against the registry's declarations (scopes, access grants, server-only fields,
//! lifecycles, references), evaluated over the server's data in memory: an implementation
//! of the rules independent of the server's SQL. Nothing is listed per case.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_protocol::{EntityDef, FieldStrategy, FieldType, Registry, Role, Scope};
use fieldsync_sqlkit::column_list;
use serde_json::{json, Map, Value};

use crate::support::{mutation, TestServer};

type Object = Map<String, Value>;

/// The server's data and assignments, and the rules evaluated over them.
struct Model<'r> {
    reg: &'r Registry,
    rows: BTreeMap<&'static str, BTreeMap<String, Object>>,
    /// user id -> (role, manager id)
    users: BTreeMap<String, (Role, Option<String>)>,
    user_territories: BTreeMap<String, BTreeSet<String>>,
    territory_categories: BTreeMap<String, BTreeSet<String>>,
}

impl Model<'_> {
    fn load<'r>(srv: &TestServer, reg: &'r Registry) -> Model<'r> {
        srv.with_db(|tx| {
            let mut rows = BTreeMap::new();
            for def in reg.entities() {
                let sql = format!("SELECT {} FROM \"{}\"", column_list(def, None), def.name);
                let all = tx.query(&sql, fieldsync_server::args![], |r| fieldsync_server::records::read_row(def, r));
                let by_id: BTreeMap<String, Object> =
                    all.unwrap().into_iter().map(|row| (row.id.clone(), row.to_object(def))).collect();
                rows.insert(def.name, by_id);
            }
            let pairs = |sql: &str| -> Vec<(String, String)> {
                tx.query(sql, fieldsync_server::args![], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?))).unwrap()
            };
            let group = |pairs: Vec<(String, String)>| {
                let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for (k, v) in pairs {
                    m.entry(k).or_default().insert(v);
                }
                m
            };
            let users = rows["users"]
                .iter()
                .map(|(id, u)| {
                    let role = Role::parse(u["role"].as_str().unwrap()).unwrap();
                    (id.clone(), (role, u["manager_id"].as_str().map(String::from)))
                })
                .collect();
            Model {
                reg,
                users,
                user_territories: group(pairs("SELECT user_id, territory_id FROM user_territories")),
                territory_categories: group(pairs("SELECT territory_id, category_id FROM territory_categories")),
                rows,
            }
        })
    }

    fn team(&self, user: &str) -> BTreeSet<String> {
        let mut team: BTreeSet<String> =
            self.users.iter().filter(|(_, (_, m))| m.as_deref() == Some(user)).map(|(id, _)| id.clone()).collect();
        team.insert(user.to_string());
        team
    }

    fn territories(&self, user: &str) -> BTreeSet<String> {
        self.team(user).iter().flat_map(|u| self.user_territories.get(u).cloned().unwrap_or_default()).collect()
    }

    fn visible(&self, def: &EntityDef, row: &Object, user: &str) -> bool {
        self.in_scope(def, &def.scope, row, user)
    }

    fn in_scope(&self, def: &EntityDef, scope: &Scope, row: &Object, user: &str) -> bool {
        let text = |f: &str| row.get(f).and_then(Value::as_str).map(String::from);
        match scope {
            Scope::All => true,
            Scope::Territory(f) => text(f).is_some_and(|t| self.territories(user).contains(&t)),
            Scope::Category(f) => text(f).is_some_and(|c| {
                self.territories(user)
                    .iter()
                    .any(|t| self.territory_categories.get(t).is_some_and(|cs| cs.contains(&c)))
            }),
            Scope::Team(f) => text(f).is_some_and(|u| self.team(user).contains(&u)),
            Scope::Via(f) => {
                let parent = def.field(f).and_then(|d| d.references()).and_then(|p| self.reg.get(p)).unwrap();
                text(f).and_then(|id| self.rows[parent.name].get(&id)).is_some_and(|p| self.visible(parent, p, user))
            }
            Scope::Record { entity, id } => {
                let target = text(entity).and_then(|e| self.reg.get(&e));
                match (target, text(id)) {
                    (Some(t), Some(id)) => self.rows[t.name].get(&id).is_some_and(|r| self.visible(t, r, user)),
                    _ => false,
                }
            }
            Scope::AnyOf(list) => list.iter().any(|s| self.in_scope(def, s, row, user)),
            Scope::AllOf(list) => list.iter().all(|s| self.in_scope(def, s, row, user)),
        }
    }

    fn role(&self, user: &str) -> Role {
        self.users[user].0
    }

    /// Why the record (as it is, or as it would be) is frozen by its own or its parent's lifecycle.
    fn locked(&self, def: &EntityDef, row: &Object) -> bool {
        if let Some(sm) = def.state_machine {
            if !sm.editable_in.contains(&row.get(sm.field).and_then(Value::as_str).unwrap_or_default()) {
                return true;
            }
        }
        let Some(link) = def.frozen_with else { return false };
        let parent_def = def.field(link).and_then(|f| f.references()).and_then(|p| self.reg.get(p)).unwrap();
        let parent = row.get(link).and_then(Value::as_str).and_then(|id| self.rows[parent_def.name].get(id));
        let sm = parent_def.state_machine.unwrap();
        parent.is_some_and(|p| !sm.editable_in.contains(&p.get(sm.field).and_then(Value::as_str).unwrap_or_default()))
    }

    /// `forbidden` if a reference among `fields` points at a record the user's role reads
    /// but the user cannot see.
    fn references_refused(&self, def: &EntityDef, fields: &Object, user: &str) -> bool {
        fields.iter().any(|(name, value)| {
            let (Some(target), Some(id)) =
                (def.field(name).and_then(|f| f.references()).and_then(|t| self.reg.get(t)), value.as_str())
            else {
                return false;
            };
            let seen = self.rows[target.name].get(id).is_some_and(|r| self.visible(target, r, user));
            target.readable_by(self.role(user)) && !seen
        })
    }

    fn expect_create(&self, def: &EntityDef, fields: &Object, user: &str) -> &'static str {
        let role = self.role(user);
        let Some(allowed) = def.access(role).and_then(|a| a.create) else { return "forbidden" };
        if fields.keys().any(|f| !allowed.contains(f)) {
            return "forbidden";
        }
        if let Some(sm) = def.state_machine {
            if !sm.initial.contains(&fields.get(sm.field).and_then(Value::as_str).unwrap_or_default()) {
                return "invalid_transition";
            }
        }
        if self.locked(def, fields) {
            return "locked";
        }
        if self.references_refused(def, fields, user) || !self.visible(def, fields, user) {
            return "forbidden";
        }
        "applied"
    }

    fn expect_update(&self, def: &EntityDef, row: &Object, field: &str, value: &Value, user: &str) -> &'static str {
        if !self.visible(def, row, user) {
            return "not_found";
        }
        let role = self.role(user);
        if def.field(field).is_some_and(|f| f.strategy == FieldStrategy::ServerOnly) {
            return "forbidden";
        }
        let Some(allowed) = def.access(role).and_then(|a| a.update) else { return "forbidden" };
        if !allowed.contains(field) {
            return "forbidden";
        }
        let only_state = def.state_machine.is_some_and(|sm| sm.field == field);
        if !only_state && self.locked(def, row) {
            return "locked";
        }
        let written: Object = [(field.to_string(), value.clone())].into_iter().collect();
        if self.references_refused(def, &written, user) {
            return "forbidden";
        }
        "applied"
    }

    fn expect_delete(&self, def: &EntityDef, id: &str, user: &str) -> &'static str {
        let row = &self.rows[def.name][id];
        if !self.visible(def, row, user) {
            return "not_found";
        }
        if !def.access(self.role(user)).is_some_and(|a| a.delete) {
            return "forbidden";
        }
        if self.locked(def, row) {
            return "locked";
        }
        let referred = self.reg.referrers(def.name).any(|(referrer, field)| {
            self.rows[referrer.name].values().any(|r| r.get(field.name).and_then(Value::as_str) == Some(id))
        });
        if referred {
            return "in_use";
        }
        "applied"
    }
}

/// A record of `def` in each place relative to `user`: one the user sees (and, for types
/// with a lifecycle, one the user sees in a frozen state), one only a teammate sees, and
/// one neither sees.
fn samples(m: &Model<'_>, def: &EntityDef, user: &str, teammate: Option<&str>) -> Vec<(&'static str, String)> {
    let rows = &m.rows[def.name];
    let pick =
        |place, pred: &dyn Fn(&Object) -> bool| rows.iter().find(|(_, r)| pred(r)).map(|(id, _)| (place, id.clone()));
    let mine = |r: &Object| m.visible(def, r, user);
    let theirs = |r: &Object| teammate.is_some_and(|t| m.visible(def, r, t));
    [
        pick("own", &|r| mine(r) && !m.locked(def, r)),
        pick("own, frozen", &|r| mine(r) && m.locked(def, r)),
        pick("team", &|r| !mine(r) && theirs(r)),
        pick("other", &|r| !mine(r) && !theirs(r)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A value to write to a field that changes nothing but the field's own rules: the current
/// value, text to add for an append, one more for a counter.
fn write_value(def: &EntityDef, row: &Object, field: &str) -> Value {
    match def.field(field).unwrap().strategy {
        FieldStrategy::Append => json!("x"),
        FieldStrategy::Counter => json!(1),
        _ => row.get(field).cloned().unwrap_or(Value::Null),
    }
}

/// A new record with the values of `row`: null and server-only fields left out, unique
/// values made new.
fn copy_of(def: &EntityDef, row: &Object, n: usize) -> Object {
    def.fields
        .iter()
        .filter(|f| f.strategy != FieldStrategy::ServerOnly)
        .filter_map(|f| {
            let v = row.get(f.name).filter(|v| !v.is_null())?.clone();
            Some((
                f.name.to_string(),
                if f.unique && f.ty == FieldType::Text { json!(format!("{}-copy{n}", v.as_str()?)) } else { v },
            ))
        })
        .collect()
}

/// The outcome of one mutation: "applied" or the rejection's code.
async fn push_one(srv: &TestServer, user: &str, m: Value) -> String {
    let r = srv.push_raw(user, vec![m]).await.remove(0);
    if r["status"] == "rejected" {
        r["code"].as_str().unwrap().to_string()
    } else {
        "applied".to_string()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_permission_matrix_holds_for_every_role_type_field_and_place() {
    let srv = TestServer::demo().await;
    let reg = srv.config.registry.clone();
    let mut model = Model::load(&srv, &reg);
    let id_of =
        |m: &Model<'_>, name: &str| m.rows["users"].iter().find(|(_, u)| u["username"] == name).unwrap().0.clone();
    let actors: Vec<(String, String)> = ["rep1", "manager1", "shipper1"]
        .iter()
        .map(|name| {
            let id = id_of(&model, name);
            // A teammate: another user with the same manager.
            let manager = model.users[&id].1.clone();
            let mate = model.users.iter().find(|(u, (_, m))| **u != id && manager.is_some() && *m == manager);
            (name.to_string(), mate.map(|(u, _)| u.clone()).unwrap_or_default())
        })
        .collect();
    let (mut cases, mut failures) = (BTreeMap::<String, usize>::new(), Vec::new());
    let mut deletes = Vec::new();
    let mut copies = 0;
    for (name, mate) in &actors {
        let user = id_of(&model, name);
        let mate = Some(mate.as_str()).filter(|m| !m.is_empty());
        for def in reg.entities() {
            for (place, id) in samples(&model, def, &user, mate) {
                let row = model.rows[def.name][&id].clone();
                let role = model.role(&user);
                let mut check = |op: String, expected: &'static str, got: String| {
                    *cases.entry(format!("{role} {expected}")).or_default() += 1;
                    if got != expected {
                        failures.push(format!(
                            "{name} {op} of a {place} {} record: expected {expected}, got {got}",
                            def.name
                        ));
                    }
                };
                copies += 1;
                let copy = copy_of(def, &row, copies);
                let expected = model.expect_create(def, &copy, &user);
                let new_id = uuid::Uuid::now_v7().to_string();
                let got = push_one(&srv, name, mutation(def.name, &new_id, "put", Value::Object(copy.clone()))).await;
                if got == "applied" {
                    let mut stored = copy.clone();
                    stored.insert("id".into(), json!(new_id));
                    model.rows.get_mut(def.name).unwrap().insert(new_id, stored);
                }
                check("create".into(), expected, got);
                for f in def.fields {
                    let value = write_value(def, &row, f.name);
                    let expected = model.expect_update(def, &row, f.name, &value, &user);
                    let fields: Object = [(f.name.to_string(), value)].into_iter().collect();
                    let got = push_one(&srv, name, mutation(def.name, &id, "put", Value::Object(fields))).await;
                    check(format!("update of {}", f.name), expected, got);
                }
                deletes.push((name.clone(), user.clone(), def.name, place, id));
            }
        }
    }
    // Deletes last, each judged against the data as the earlier ones left it.
    for (name, user, entity, place, id) in deletes {
        let def = reg.get(entity).unwrap();
        if !model.rows[entity].contains_key(&id) {
            continue; // deleted already, by an earlier actor
        }
        let expected = model.expect_delete(def, &id, &user);
        let got = push_one(&srv, &name, mutation(entity, &id, "delete", json!({}))).await;
        if got == "applied" {
            model.rows.get_mut(entity).unwrap().remove(&id);
        }
        *cases.entry(format!("{} {expected}", model.role(&user))).or_default() += 1;
        if got != expected {
            failures.push(format!("{name} delete of a {place} {entity} record: expected {expected}, got {got}"));
        }
    }
    let total: usize = cases.values().sum();
    println!("permission matrix: {total} cases checked against the registry's rules; by role and outcome: {cases:?}");
    assert!(failures.is_empty(), "{} of {total} cases disagree:\n{}", failures.len(), failures.join("\n"));
    for outcome in ["applied", "forbidden", "not_found", "locked", "in_use"] {
        assert!(cases.keys().any(|k| k.ends_with(outcome)), "no case ended {outcome}: the matrix lost its reach");
    }
}
