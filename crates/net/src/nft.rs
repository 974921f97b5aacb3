//! berth's one nftables table: masquerade, isolation between networks,
//! and the chains port publishing fills.
//!
//! The table (family `inet`, named by berthd's `--nft-table`) has four base
//! chains: `prerouting`, `output` and `postrouting` of type nat (DNAT of
//! published ports in the first two, masquerade in the last) and `forward`
//! of type filter (policy accept). What a network adds carries a comment
//! naming it (`net:<network id>`; port publishing uses its own), so it can
//! be deleted exactly ([`Table::remove_tagged`]), and the whole table can be
//! rebuilt from the stored networks in one `nft` call ([`Table::rebuild`]).
//!
//! Isolation does not grow with the networks: the `forward` chain holds
//! five fixed rules over five sets of bridge names, one set per role, and a
//! network adds its bridge to the sets of its roles:
//! - `iifname . oifname @net_self accept`: containers of one network reach
//!   each other (bridged traffic passes this hook with br_netfilter); the
//!   set holds `B . B` for each network's bridge `B`;
//! - `iifname @net_internal drop`: internal networks have no way out (not
//!   even to another network);
//! - `oifname @net_replies ct state established,related accept`;
//! - `oifname @net_published ct status dnat accept` (published ports);
//! - `oifname @net_isolated drop`: nothing else gets in, not another
//!   network, not the outside routing to container addresses.
//!
//! Every network is in `net_self`, `net_replies`, `net_published` and
//! `net_isolated`; internal ones in `net_internal` too. The five rules carry
//! no comment (they belong to the table, not to a network); each batch
//! flushes the chain and writes them again, so they are there once.
//!
//! Masquerade stays a rule per network, in `postrouting` (not internal):
//! `ip saddr S oifname != B masquerade`, and for an IPv6 network
//! `ip6 saddr S6 oifname != B masquerade`.
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
use nftables::schema::{
    Chain, Element, NfCmd, NfListObject, NfObject, Nftables, Rule, Set, SetType, SetTypeValue,
    Table as NfTable,
};
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

/// The sets of bridge names the isolation rules match, one per role (see
/// the module's documentation).
pub const SET_SELF: &str = "net_self";
pub const SET_INTERNAL: &str = "net_internal";
pub const SET_REPLIES: &str = "net_replies";
pub const SET_PUBLISHED: &str = "net_published";
pub const SET_ISOLATED: &str = "net_isolated";
const INTERFACE_SETS: [&str; 4] = [SET_INTERNAL, SET_REPLIES, SET_PUBLISHED, SET_ISOLATED];

/// What [`Table::tagged_rules`] finds: a rule (by chain and handle) or a
/// set element (by set and its value, one name or a concatenation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tagged {
    Rule { chain: String, handle: u32 },
    Element { set: String, value: Vec<String> },
}

/// A network's part of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The network's id; its rules' comments are `net:<id>`.
    pub id: String,
    pub bridge: String,
    /// The IPv4 subnet; `None` on an IPv6-only network (`--ipv4=false`).
    pub subnet: Option<Ipv4Net>,
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

    /// `add` commands for the table, its base chains and sets (harmless
    /// when they exist), then the `forward` chain flushed and its fixed
    /// rules written again: every batch can start with them.
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
        let ifname = || SetTypeValue::Single(SetType::Ifname);
        let sets = [(
            SET_SELF,
            SetTypeValue::Concatenated(Cow::Borrowed(&[SetType::Ifname, SetType::Ifname])),
        )]
        .into_iter()
        .chain(INTERFACE_SETS.iter().map(|n| (*n, ifname())));
        for (name, set_type) in sets {
            out.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Set(
                Box::new(Set {
                    family: NfFamily::INet,
                    table: Cow::Owned(self.name.clone()),
                    name: Cow::Borrowed(name),
                    handle: None,
                    set_type,
                    policy: None,
                    flags: None,
                    elem: None,
                    timeout: None,
                    gc_interval: None,
                    size: None,
                    comment: None,
                }),
            ))));
        }
        out.push(NfObject::CmdObject(NfCmd::Flush(
            nftables::schema::FlushObject::Chain(Chain {
                family: NfFamily::INet,
                table: Cow::Owned(self.name.clone()),
                name: Cow::Borrowed(FORWARD),
                ..Chain::default()
            }),
        )));
        out.extend(self.isolation_rules());
        out
    }

    /// The five fixed rules of the `forward` chain, without comments.
    fn isolation_rules(&self) -> Vec<NfObject<'static>> {
        let at = |set: &str| Expression::String(Cow::Owned(format!("@{set}")));
        let meta = |key| Expression::Named(NamedExpression::Meta(Meta { key }));
        let in_set = |key, set: &str| {
            Statement::Match(Match {
                left: meta(key),
                right: at(set),
                op: Operator::EQ,
            })
        };
        let pair = Statement::Match(Match {
            left: Expression::Named(NamedExpression::Concat(vec![
                meta(MetaKey::Iifname),
                meta(MetaKey::Oifname),
            ])),
            right: at(SET_SELF),
            op: Operator::EQ,
        });
        [
            vec![pair, accept()],
            vec![in_set(MetaKey::Iifname, SET_INTERNAL), drop()],
            vec![
                in_set(MetaKey::Oifname, SET_REPLIES),
                ct_match("state", &["established", "related"]),
                accept(),
            ],
            vec![
                in_set(MetaKey::Oifname, SET_PUBLISHED),
                ct_match("status", &["dnat"]),
                accept(),
            ],
            vec![in_set(MetaKey::Oifname, SET_ISOLATED), drop()],
        ]
        .into_iter()
        .map(|stmts| {
            NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(Rule {
                family: NfFamily::INet,
                table: Cow::Owned(self.name.clone()),
                chain: Cow::Borrowed(FORWARD),
                expr: Cow::Owned(stmts),
                handle: None,
                index: None,
                comment: None,
            })))
        })
        .collect()
    }

    /// An `add element` (or, with `delete`, `delete element`) command for
    /// `value` in `set`, with the comment `tag` when adding.
    fn element(&self, set: &str, value: &[String], tag: Option<&str>) -> NfObject<'static> {
        let val = match value {
            [one] => Expression::String(Cow::Owned(one.clone())),
            many => Expression::Named(NamedExpression::Concat(
                many.iter()
                    .map(|v| Expression::String(Cow::Owned(v.clone())))
                    .collect(),
            )),
        };
        let elem = match tag {
            Some(tag) => Expression::Named(NamedExpression::Elem(nftables::expr::Elem {
                val: Box::new(val),
                timeout: None,
                expires: None,
                comment: Some(Cow::Owned(tag.to_owned())),
                counter: None,
            })),
            None => val,
        };
        let element = NfListObject::Element(Element {
            family: NfFamily::INet,
            table: Cow::Owned(self.name.clone()),
            name: Cow::Owned(set.to_owned()),
            elem: Cow::Owned(vec![elem]),
        });
        NfObject::CmdObject(if tag.is_some() {
            NfCmd::Add(element)
        } else {
            NfCmd::Delete(element)
        })
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

    /// The commands that add a network: its bridge into the sets of its
    /// roles, its masquerade rules.
    pub fn network_rules(&self, n: &NetworkRules) -> Vec<NfObject<'static>> {
        let tag = n.tag();
        let br = || n.bridge.clone();
        let mut out = vec![self.element(SET_SELF, &[br(), br()], Some(&tag))];
        for set in [SET_REPLIES, SET_PUBLISHED, SET_ISOLATED] {
            out.push(self.element(set, &[br()], Some(&tag)));
        }
        if n.internal {
            out.push(self.element(SET_INTERNAL, &[br()], Some(&tag)));
        } else {
            if let Some(s4) = n.subnet {
                out.push(self.rule(
                    POSTROUTING,
                    vec![
                        saddr_in(s4),
                        oifname(Operator::NEQ, br()),
                        Statement::Masquerade(None),
                    ],
                    &tag,
                ));
            }
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

    /// The rules and set elements whose comment `keep` selects (the
    /// fixed isolation rules have none).
    pub fn tagged_rules(
        &self,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Result<Vec<Tagged>, NftError> {
        let args = ["-a", "list", "table", "inet", self.name.as_str()];
        let listing =
            match nftables::helper::get_current_ruleset_raw(nftables::helper::DEFAULT_NFT, &args) {
                Ok(r) => r,
                // No table: nothing tagged.
                Err(NftablesError::NftFailed { stderr, .. }) if stderr.contains("No such file") => {
                    return Ok(Vec::new());
                }
                Err(source) => return Err(self.error("list the rules", source)),
            };
        let json: serde_json::Value = serde_json::from_str(&listing)
            .map_err(|e| self.error("read the listing of", NftablesError::NftInvalidJson(e)))?;
        let objects = json["nftables"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for obj in &objects {
            let rule = &obj["rule"];
            if let (Some(chain), Some(handle), Some(comment)) = (
                rule["chain"].as_str(),
                rule["handle"].as_u64(),
                rule["comment"].as_str(),
            ) && keep(comment)
                && let Ok(handle) = u32::try_from(handle)
            {
                out.push(Tagged::Rule {
                    chain: chain.to_owned(),
                    handle,
                });
            }
            let set = &obj["set"];
            let Some(name) = set["name"].as_str() else {
                continue;
            };
            for elem in set["elem"].as_array().into_iter().flatten() {
                let elem = &elem["elem"];
                let Some(comment) = elem["comment"].as_str() else {
                    continue;
                };
                if !keep(comment) {
                    continue;
                }
                let val = &elem["val"];
                let value: Vec<String> = match val.as_str() {
                    Some(one) => vec![one.to_owned()],
                    None => val["concat"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                };
                if !value.is_empty() {
                    out.push(Tagged::Element {
                        set: name.to_owned(),
                        value,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The commands that delete `tagged` (rules and set elements).
    pub fn delete_tagged(&self, tagged: &[Tagged]) -> Vec<NfObject<'static>> {
        tagged
            .iter()
            .map(|t| match t {
                Tagged::Rule { chain, handle } => {
                    NfObject::CmdObject(NfCmd::Delete(NfListObject::Rule(Rule {
                        family: NfFamily::INet,
                        table: Cow::Owned(self.name.clone()),
                        chain: Cow::Owned(chain.clone()),
                        expr: Cow::Owned(Vec::new()),
                        handle: Some(*handle),
                        index: None,
                        comment: None,
                    })))
                }
                Tagged::Element { set, value } => self.element(set, value, None),
            })
            .collect()
    }

    /// Deletes every rule and set element whose comment is `tag` (one
    /// listing, then one atomic deletion); how many there were.
    pub fn remove_tagged(&self, tag: &str) -> Result<usize, NftError> {
        let tagged = self.tagged_rules(|c| c == tag)?;
        if tagged.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        batch.add_all(self.delete_tagged(&tagged));
        self.run(&format!("delete the rules `{tag}`"), &batch.to_nftables())?;
        Ok(tagged.len())
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
