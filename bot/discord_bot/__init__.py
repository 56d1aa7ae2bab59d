"""The Discord adapter: slash commands over the answer service, rendering for Discord.

``sanad run discord`` calls :func:`run_discord`; ``sanad discord-sync`` calls
:func:`sync_commands`. No retrieval logic lives here.
"""

from .runner import run_discord, sync_commands

__all__ = ["run_discord", "sync_commands"]
