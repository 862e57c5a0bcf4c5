"""The epoch's emission E(e) (SPEC 5) and its split over the channels by the channel bps.
"""

from __future__ import annotations

from aimg_pipeline.lib.apportion import apportion
from aimg_pipeline.lib.policy import CHANNELS, Config
from aimg_pipeline.warehouse import Warehouse


def epoch_emission(config: Config, epoch: int) -> int:
    return config.emissions_through(epoch)[epoch]


def write_emissions(config: Config, warehouse: Warehouse, epoch: int) -> dict[str, int]:
    """Split E(epoch) over the channels and store it; returns amount per channel."""
    policy = config.policy_for(epoch)
    by_channel = apportion(epoch_emission(config, epoch), policy.channel_bps, order=CHANNELS)
    warehouse.write("epoch_emissions", epoch, {
        "epoch": [epoch] * len(CHANNELS), "channel": list(CHANNELS),
        "amount": [str(by_channel[c]) for c in CHANNELS],
        "policy_version": [policy.version] * len(CHANNELS),
    })
    return by_channel
