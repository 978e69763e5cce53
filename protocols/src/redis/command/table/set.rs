//! Set commands.

use super::CommandSpec;

pub(super) const COMMANDS: &[CommandSpec] = &[];
