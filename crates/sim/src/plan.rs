//! What a seed does: a list of steps drawn from the seed alone, before anything runs, so a
//! failing run can be replayed and shrunk by dropping steps. Choices that depend on the
//! world at run time (which customer, which order) are a `pick` number, applied to the
//! candidates in a stable order.

use fieldsync_protocol::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A fault injected into one request of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The request never reaches the server.
    LoseRequest,
    /// The server handles it; the answer never reaches the client.
    LoseResponse,
    /// Delivered twice; the client sees the second answer.
    Duplicate,
    /// Delivered now, and a copy is held back to arrive again later ([`Step::Deliver`]),
    /// after newer requests: delay and reordering.
    Delay,
    /// The server process dies while handling it: a push rolls back before its commit,
    /// anything else is answered into the void. The server then restarts.
    ServerCrash,
    /// The client process dies while the request is out: the server handles it, and the
    /// client starts again from its profile, without the answer.
    ClientCrash,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::LoseRequest => "lost_request",
            Fault::LoseResponse => "lost_response",
            Fault::Duplicate => "duplicated",
            Fault::Delay => "delayed",
            Fault::ServerCrash => "server_crash",
            Fault::ClientCrash => "client_crash",
        }
    }
}

/// An offline edit, one of every merge strategy and lifecycle move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Last-write-wins text fields.
    CustomerPhone,
    CustomerNotes,
    ContactPhone,
    /// A counter: `samples_given` grows by 1 to 3.
    Samples,
    ContactCreate,
    ContactDelete,
    VisitCreate,
    /// Append-only text.
    VisitNote,
    /// A draft order with one line.
    OrderCreate,
    /// Lifecycle moves.
    OrderSubmit,
    OrderBackToDraft,
    /// A manager's decision: the status change and its review record, as one unit.
    Review {
        approve: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Edit {
        client: usize,
        edit: Edit,
        pick: u32,
    },
    /// One sync, with at most one fault at the given request of it.
    Sync {
        client: usize,
        fault: Option<(u8, Fault)>,
    },
    /// The client process dies between steps and starts again from its profile.
    CrashClient {
        client: usize,
    },
    RestartServer,
    /// The client's clock is set this far off the server's (±3 h).
    Skew {
        client: usize,
        offset_ms: i64,
    },
    /// The client's clock jumps back.
    JumpBack {
        client: usize,
        ms: i64,
    },
    /// Time passes for everyone.
    Advance {
        ms: i64,
    },
    /// The office moves a customer to the other territory.
    MoveCustomer {
        pick: u32,
    },
    /// IT changes a user's role.
    ChangeRole {
        client: usize,
        role: Role,
    },
    /// IT takes a backup of the server's database...
    Backup,
    /// ... and later puts one back (`fieldsync-server restore`).
    Restore {
        pick: u32,
    },
    /// The oldest request held back by [`Fault::Delay`] arrives.
    Deliver,
}

/// A seed's world and steps.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The role of each client's user at the start; client 0 is the manager.
    pub roles: Vec<Role>,
    pub steps: Vec<Step>,
}

const EDITS_REP: &[Edit] = &[
    Edit::CustomerPhone,
    Edit::CustomerNotes,
    Edit::ContactPhone,
    Edit::Samples,
    Edit::ContactCreate,
    Edit::ContactDelete,
    Edit::VisitCreate,
    Edit::VisitNote,
    Edit::OrderCreate,
    Edit::OrderCreate,
    Edit::OrderSubmit,
    Edit::OrderSubmit,
    Edit::OrderBackToDraft,
];
const EDITS_MANAGER: &[Edit] = &[
    Edit::CustomerPhone,
    Edit::CustomerNotes,
    Edit::ContactPhone,
    Edit::ContactDelete,
    Edit::Review { approve: true },
    Edit::Review { approve: true },
    Edit::Review { approve: false },
];

impl Plan {
    pub fn generate(seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let clients = rng.gen_range(3..=8);
        let roles: Vec<Role> = (0..clients)
            .map(|i| match i {
                0 => Role::Manager,
                _ if rng.gen_bool(0.12) => Role::Shipper,
                _ => Role::Rep,
            })
            .collect();
        let mut current = roles.clone();
        let mut backups = 0u32;
        let mut held = 0u32;
        let length = rng.gen_range(30..=90);
        let mut steps = Vec::with_capacity(length);
        while steps.len() < length {
            let client = rng.gen_range(0..clients);
            let roll: u32 = rng.gen_range(0..1000);
            let step = match roll {
                0..=449 => {
                    let edits = match current[client] {
                        Role::Manager => EDITS_MANAGER,
                        Role::Rep => EDITS_REP,
                        Role::Shipper => continue,
                    };
                    Step::Edit { client, edit: edits[rng.gen_range(0..edits.len())], pick: rng.gen() }
                }
                450..=749 => {
                    let fault = rng.gen_bool(0.35).then(|| {
                        let fault = match rng.gen_range(0..12) {
                            0..=2 => Fault::LoseResponse,
                            3..=4 => Fault::LoseRequest,
                            5..=6 => Fault::Duplicate,
                            7..=8 => Fault::Delay,
                            9 => Fault::ServerCrash,
                            _ => Fault::ClientCrash,
                        };
                        (rng.gen_range(0..3u8), fault)
                    });
                    if matches!(fault, Some((_, Fault::Delay))) {
                        held += 1;
                    }
                    Step::Sync { client, fault }
                }
                750..=789 => Step::CrashClient { client },
                790..=809 => Step::RestartServer,
                810..=839 => Step::Skew { client, offset_ms: rng.gen_range(-3 * HOUR..=3 * HOUR) },
                840..=859 => Step::JumpBack { client, ms: rng.gen_range(1_000..=HOUR) },
                860..=909 => Step::Advance { ms: rng.gen_range(1_000..=2 * HOUR) },
                910..=934 => Step::MoveCustomer { pick: rng.gen() },
                935..=949 if client != 0 => {
                    let role = [Role::Rep, Role::Manager, Role::Shipper][rng.gen_range(0..3)];
                    current[client] = role;
                    Step::ChangeRole { client, role }
                }
                950..=969 => {
                    backups += 1;
                    Step::Backup
                }
                970..=984 if backups > 0 => Step::Restore { pick: rng.gen() },
                985..=999 if held > 0 => {
                    held -= 1;
                    Step::Deliver
                }
                _ => continue,
            };
            steps.push(step);
        }
        Plan { roles, steps }
    }
}

const HOUR: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_draws_the_same_plan_and_seeds_differ() {
        let a = Plan::generate(11);
        assert_eq!(a.steps, Plan::generate(11).steps);
        assert_eq!(a.roles, Plan::generate(11).roles);
        assert_ne!(a.steps, Plan::generate(12).steps);
        assert_eq!(a.roles[0], Role::Manager);
    }

    #[test]
    fn plans_reach_every_kind_of_step_and_fault() {
        let mut kinds = std::collections::BTreeSet::new();
        let mut faults = std::collections::BTreeSet::new();
        for seed in 0..300 {
            for step in Plan::generate(seed).steps {
                if let Step::Sync { fault: Some((_, f)), .. } = step {
                    faults.insert(f);
                }
                kinds.insert(format!("{step:?}").split([' ', '{']).next().unwrap_or_default().to_string());
            }
        }
        assert_eq!(faults.len(), 6, "{faults:?}");
        assert_eq!(kinds.len(), 12, "{kinds:?}");
    }
}
