"""`none`: the board has no power sensor; temperatures and clocks are still sampled."""

from __future__ import annotations

from typing import Any, Dict, Optional

from . import PowerSource, Reading, register


class NoPower(PowerSource):
    def read(self) -> Optional[Reading]:
        return None


@register("none")
def open_none(config: Dict[str, Any], root: str) -> PowerSource:
    return NoPower()
