//! berth's one nftables table: masquerade, isolation between networks,
//! and the chains port publishing fills.
//!
//! The table (family `inet`, named by berthd's `--nft-table`) has four base
//! chains: `prerouting`, `output` and `postrouting` of type nat (DNAT of
//! published ports in the first two, masquerade in the last) and `forward`
//! of type filter (policy accept). Every rule carries a comment naming what
//! it belongs to (`net:<network id>` here; port publishing uses its own),
//! so it can be deleted exactly ([`Table::remove_tagged`]), and the whole
//! table can be rebuilt from the stored networks in one `nft` call
//! ([`Table::rebuild`]).
//!
//! Rules of a network (bridge `B`, subnet `S`):
//! - forward: `iifname B oifname B accept` (containers of one network reach
//!   each other; bridged traffic passes this hook with br_netfilter);
//!   `oifname B ct state established,related accept`;
//!   `oifname B ct status dnat accept` (published ports);
//!   `oifname B drop` (nothing else gets in: not another network, not the
//!   outside routing to container addresses);
//!   internal networks also `iifname B drop` (no way out).
//! - postrouting (not internal): `ip saddr S oifname != B masquerade`,
//!   and for an IPv6 network `ip6 saddr S6 oifname != B masquerade`.
//!
//! The filter rules match interfaces, not addresses, so in this `inet`
//! table they isolate IPv6 traffic as well as IPv4.

use std::borrow::Cow;

use ipnet::{Ipv4Net, Ipv6Net};
use nftables::batch::Batch;
use nftables::expr::{
    CT, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::helper::NftablesError;
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Table as NfTable};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

/// An `nft` call that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} in the nftables table `{table}`: {source}")]
pub struct NftError {
    pub what: String,
    pub table: String,
    #[source]
    pub source: Box<NftablesError>,
}

/// The nat chains port publishing adds DNAT rules to.
pub const PREROUTING: &str = "prerouting";
pub const OUTPUT: &str = "output";
/// The nat chain of masquerade rules.
pub const POSTROUTING: &str = "postrouting";
/// The filter chain of isolation rules.
pub const FORWARD: &str = "forward";

/// A network's part of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The network's id; its rules' comments are `net:<id>`.
    pub id: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// The IPv6 subnet of an `--ipv6` network.
    pub subnet6: Option<Ipv6Net>,
    /// `--internal`: no masquerade, no traffic in or out of the bridge.
    pub internal: bool,
}

impl NetworkRules {
    /// The comment its rules carry.
    pub fn tag(&self) -> String {
        network_tag(&self.id)
    }
}

/// `net:<id>`.
pub fn network_tag(id: &str) -> String {
    format!("net:{id}")
}

/// berth's table, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    name: String,
}

impl Table {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `add` commands for the table and its base chains: harmless when
    /// they exist, so every batch can start with them.
    pub fn skeleton(&self) -> Vec<NfObject<'static>> {
        let mut out = vec![NfObject::CmdObject(NfCmd::Add(NfListObject::Table(
            self.nf_table(),
        )))];
        for (name, kind, hook, prio) in [
            (PREROUTING, NfChainType::NAT, NfHook::Prerouting, -100),
            (OUTPUT, NfChainType::NAT, NfHook::Output, -100),
            (POSTROUTING, NfChainType::NAT, NfHook::Postrouting, 100),
            (FORWARD, NfChainType::Filter, NfHook::Forward, 0),
        ] {
            out.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(
                Chain {
                    family: NfFamily::INet,
                    table: Cow::Owned(self.name.clone()),
                    name: Cow::Borrowed(name),
                    _type: Some(kind),
                    hook: Some(hook),
                    prio: Some(prio),
                    policy: Some(NfChainPolicy::Accept),
                    ..Chain::default()
                },
            ))));
        }
        out
    }

    fn nf_table(&self) -> NfTable<'static> {
        NfTable {
            family: NfFamily::INet,
            name: Cow::Owned(self.name.clone()),
            handle: None,
        }
    }

    /// A rule for `chain` made of `stmts`, tagged `comment`.
    pub fn rule(
        &self,
        chain: &str,
        stmts: Vec<Statement<'static>>,
        comment: &str,
    ) -> NfObject<'static> {
        NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: Cow::Owned(self.name.clone()),
            chain: Cow::Owned(chain.to_owned()),
            expr: Cow::Owned(stmts),
            handle: None,
            index: None,
            comment: Some(Cow::Owned(comment.to_owned())),
        })))
    }

    /// The `add rule` commands of a network.
    pub fn network_rules(&self, n: &NetworkRules) -> Vec<NfObject<'static>> {
        let tag = n.tag();
        let br = || n.bridge.clone();
        let mut out = vec![
            self.rule(
                FORWARD,
                vec![
                    iifname(Operator::EQ, br()),
                    oifname(Operator::EQ, br()),
                    accept(),
                ],
                &tag,
            ),
            self.rule(
                FORWARD,
                vec![
                    oifname(Operator::EQ, br()),
                    ct_match("state", &["established", "related"]),
                    accept(),
                ],
                &tag,
            ),
            self.rule(
                FORWARD,
                vec![
                    oifname(Operator::EQ, br()),
                    ct_match("status", &["dnat"]),
                    accept(),
                ],
                &tag,
            ),
            self.rule(FORWARD, vec![oifname(Operator::EQ, br()), drop()], &tag),
        ];
        if n.internal {
            out.push(self.rule(FORWARD, vec![iifname(Operator::EQ, br()), drop()], &tag));
        } else {
            out.push(self.rule(
                POSTROUTING,
                vec![
                    saddr_in(n.subnet),
                    oifname(Operator::NEQ, br()),
                    Statement::Masquerade(None),
                ],
                &tag,
            ));
            if let Some(s6) = n.subnet6 {
                out.push(self.rule(
                    POSTROUTING,
                    vec![
                        saddr6_in(s6),
                        oifname(Operator::NEQ, br()),
                        Statement::Masquerade(None),
                    ],
                    &tag,
                ));
            }
        }
        out
    }

    /// Runs `objects` (after the skeleton) in one atomic `nft` call.
    pub fn apply(&self, what: &str, objects: Vec<NfObject<'static>>) -> Result<(), NftError> {
        let mut batch = Batch::new();
        batch.add_all(self.skeleton());
        batch.add_all(objects);
        self.run(what, &batch.to_nftables())
    }

    fn run(&self, what: &str, ruleset: &Nftables<'_>) -> Result<(), NftError> {
        nftables::helper::apply_ruleset(ruleset).map_err(|source| self.error(what, source))
    }

    fn error(&self, what: &str, source: NftablesError) -> NftError {
        NftError {
            what: what.to_owned(),
            table: self.name.clone(),
            source: Box::new(source),
        }
    }

    /// Adds a network's rules (and the table, if missing).
    pub fn add_network(&self, n: &NetworkRules) -> Result<(), NftError> {
        self.apply(
            &format!("add the rules of bridge `{}`", n.bridge),
            self.network_rules(n),
        )
    }

    /// Replaces the whole table, in one call, with the skeleton, the rules
    /// of `networks` and `extra` (port publishing's rules).
    pub fn rebuild(
        &self,
        networks: &[NetworkRules],
        extra: Vec<NfObject<'static>>,
    ) -> Result<(), NftError> {
        let mut batch = Batch::new();
        // `add` first so that `delete` cannot fail on a missing table.
        batch.add(NfListObject::Table(self.nf_table()));
        batch.delete(NfListObject::Table(self.nf_table()));
        batch.add_all(self.skeleton());
        for n in networks {
            batch.add_all(self.network_rules(n));
        }
        batch.add_all(extra);
        self.run("rebuild the table", &batch.to_nftables())
    }

    /// The handles of the rules whose comment `keep` selects, by chain.
    pub fn tagged_rules(
        &self,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Result<Vec<(String, u32)>, NftError> {
        let args = ["-a", "list", "table", "inet", self.name.as_str()];
        let ruleset = match nftables::helper::get_current_ruleset_with_args(
            nftables::helper::DEFAULT_NFT,
            &args,
        ) {
            Ok(r) => r,
            // No table: nothing tagged.
            Err(NftablesError::NftFailed { stderr, .. }) if stderr.contains("No such file") => {
                return Ok(Vec::new());
            }
            Err(source) => return Err(self.error("list the rules", source)),
        };
        let mut out = Vec::new();
        for obj in ruleset.objects.iter() {
            if let NfObject::ListObject(NfListObject::Rule(r)) = obj
                && let (Some(handle), Some(comment)) = (r.handle, r.comment.as_deref())
                && keep(comment)
            {
                out.push((r.chain.to_string(), handle));
            }
        }
        Ok(out)
    }

    /// `delete rule` commands for `rules` (chain, handle).
    pub fn delete_rules(&self, rules: &[(String, u32)]) -> Vec<NfObject<'static>> {
        rules
            .iter()
            .map(|(chain, handle)| {
                NfObject::CmdObject(NfCmd::Delete(NfListObject::Rule(Rule {
                    family: NfFamily::INet,
                    table: Cow::Owned(self.name.clone()),
                    chain: Cow::Owned(chain.clone()),
                    expr: Cow::Owned(Vec::new()),
                    handle: Some(*handle),
                    index: None,
                    comment: None,
                })))
            })
            .collect()
    }

    /// Deletes every rule whose comment is `tag` (one listing, then one
    /// atomic deletion); how many there were.
    pub fn remove_tagged(&self, tag: &str) -> Result<usize, NftError> {
        let rules = self.tagged_rules(|c| c == tag)?;
        if rules.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        batch.add_all(self.delete_rules(&rules));
        self.run(&format!("delete the rules `{tag}`"), &batch.to_nftables())?;
        Ok(rules.len())
    }

    /// Deletes the network's rules.
    pub fn remove_network(&self, id: &str) -> Result<usize, NftError> {
        self.remove_tagged(&network_tag(id))
    }

    /// Deletes the whole table, if it is there.
    pub fn delete(&self) -> Result<(), NftError> {
        let mut batch = Batch::new();
        batch.add(NfListObject::Table(self.nf_table()));
        batch.delete(NfListObject::Table(self.nf_table()));
        self.run("delete the table", &batch.to_nftables())
    }
}

/// `meta iifname <op> name`.
pub fn iifname(op: Operator, name: String) -> Statement<'static> {
    meta_match(MetaKey::Iifname, op, name)
}

/// `meta oifname <op> name`.
pub fn oifname(op: Operator, name: String) -> Statement<'static> {
    meta_match(MetaKey::Oifname, op, name)
}

fn meta_match(key: MetaKey, op: Operator, name: String) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Meta(Meta { key })),
        right: Expression::String(Cow::Owned(name)),
        op,
    })
}

/// `ip saddr <subnet>`.
pub fn saddr_in(subnet: Ipv4Net) -> Statement<'static> {
    ip_match("saddr", subnet)
}

/// `ip daddr <subnet>`.
pub fn daddr_in(subnet: Ipv4Net) -> Statement<'static> {
    ip_match("daddr", subnet)
}

/// `ip6 saddr <subnet>`.
pub fn saddr6_in(subnet: Ipv6Net) -> Statement<'static> {
    prefix_match(
        "ip6",
        "saddr",
        subnet.network().to_string(),
        subnet.prefix_len(),
        128,
    )
}

fn ip_match(field: &'static str, net: Ipv4Net) -> Statement<'static> {
    prefix_match("ip", field, net.network().to_string(), net.prefix_len(), 32)
}

fn prefix_match(
    protocol: &'static str,
    field: &'static str,
    network: String,
    len: u8,
    full: u8,
) -> Statement<'static> {
    let right = if len == full {
        Expression::String(Cow::Owned(network))
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(Cow::Owned(network))),
            len: u32::from(len),
        }))
    };
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
            PayloadField {
                protocol: Cow::Borrowed(protocol),
                field: Cow::Borrowed(field),
            },
        ))),
        right,
        op: Operator::EQ,
    })
}

/// `ct <key> { values }` (flags: any of them).
pub fn ct_match(key: &'static str, values: &[&'static str]) -> Statement<'static> {
    let right = match values {
        [one] => Expression::String(Cow::Borrowed(one)),
        many => Expression::List(
            many.iter()
                .map(|v| Expression::String(Cow::Borrowed(*v)))
                .collect(),
        ),
    };
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(CT {
            key: Cow::Borrowed(key),
            family: None,
            dir: None,
        })),
        right,
        op: Operator::IN,
    })
}

pub fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

pub fn drop() -> Statement<'static> {
    Statement::Drop(None)
}
