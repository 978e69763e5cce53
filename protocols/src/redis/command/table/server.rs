//! Server introspection and pub/sub commands.

use super::CommandSpec;

pub(super) const COMMANDS: &[CommandSpec] = &[];
