//! Flag blocks and help texts that several commands share, so each is
//! written once (docker's wording).

use clap::Args;

/// `--format` help of the commands that print a table by default (`ps`,
/// `images`, `volume ls`, `stats`, ...).
pub(crate) const TABLE_FORMAT_HELP: &str = "Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.";

/// `--format` help of the commands that print JSON by default (`inspect`,
/// `version`, `info`, `events`, ...).
pub(crate) const JSON_FORMAT_HELP: &str = "Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.";

/// `--filter` and `--force` of every `prune` command. The filter's example
/// is the containers', images' and networks' one; `volume prune` and
/// `system prune` change it with `mut_arg`, as docker shows another there.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PruneFlags {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::flags::Flags;

    fn filter_help(path: &[&str]) -> String {
        let mut command = Flags::command();
        // Subcommands are defined when used (`defer`): define them all.
        command.build();
        for name in path {
            command = command.find_subcommand(name).unwrap().clone();
        }
        command
            .get_arguments()
            .find(|a| a.get_id() == "filter")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap()
    }

    #[test]
    fn every_prune_shows_dockers_filter_example() {
        let until = r#"Provide filter values (e.g. "until=<timestamp>")"#;
        assert_eq!(filter_help(&["container", "prune"]), until);
        assert_eq!(filter_help(&["image", "prune"]), until);
        assert_eq!(filter_help(&["network", "prune"]), until);
        assert_eq!(
            filter_help(&["volume", "prune"]),
            r#"Provide filter values (e.g. "label=<label>")"#
        );
        assert_eq!(
            filter_help(&["system", "prune"]),
            r#"Provide filter values (e.g. "label=<key>=<value>")"#
        );
    }

    #[test]
    fn the_shared_prune_flags_parse_in_each_command() {
        for path in [
            &["container", "prune"][..],
            &["image", "prune"],
            &["network", "prune"],
            &["volume", "prune"],
            &["system", "prune"],
        ] {
            let mut args = vec!["berth"];
            args.extend_from_slice(path);
            args.extend_from_slice(&["-f", "--filter", "until=1h", "--filter", "label=a"]);
            let flags = Flags::try_parse_from(&args);
            assert!(flags.is_ok(), "{path:?}: {flags:?}");
        }
    }
}
