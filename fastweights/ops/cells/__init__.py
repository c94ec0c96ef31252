"""The cells, one file each (its step, recurrent scan and faster forms): FWPs whose writes depend
on their own outputs, from the 1991 slow-net/fast-net pair to the modern SRWM.

``CELLS`` is the registry: adding a cell is its file plus one line here. The contract every cell
keeps is ``fastweights.ops.cell``.
"""

from fastweights.ops.cell import Cell
from fastweights.ops.cells import (
    delta_delta,
    delta_lstm,
    delta_mlp,
    delta_rnn,
    fwp1991,
    rdn,
    sr_delta,
    srnet1993,
    srwm,
)

CELLS: dict[str, Cell] = {
    cell.name: cell
    for cell in (
        srwm.cell,
        srwm.fake_cell,
        sr_delta.cell,
        delta_rnn.cell,
        delta_lstm.cell,
        rdn.cell,
        delta_mlp.cell,
        delta_delta.cell,
        fwp1991.cell,
        srnet1993.cell,
    )
}

__all__ = ["CELLS"]
