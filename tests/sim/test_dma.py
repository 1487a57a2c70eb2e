"""The runtime's DMA drivers against the emulator's DMA controller model: tiles copied by the real
driver of each family are bit-exact, and a driver that breaks a rule is caught by name."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

import tvm_stm32dvfs
from tvm_stm32dvfs import dae
from tvm_stm32dvfs.boards import load
from tvm_stm32dvfs.codegen import CSources
from tvm_stm32dvfs.driver import _bind_params
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.sim.dma import ChannelDma, DmaRuleError, StreamDma, dma_model
from tvm_stm32dvfs.sim.emulator import emulate, uses_dma

#: one board of each family: F7, F4, H7, L4+
FAMILY_BOARDS = ["stm32f746g-disco", "nucleo-f411re", "nucleo-h743zi2", "nucleo-l4r5zi"]


def _dma_granularities(mod, params, mode: str, max_buffer_bytes: int = 16 * 1024) -> dict:
    """Every decoupled kernel at its DMA tile (in ``mode``) with the biggest buffers under
    ``max_buffer_bytes`` (fewest transfers); a kernel without a DMA tile keeps its default."""
    fused = tvm_stm32dvfs.transform.stm32dvfs_pipeline(dae=False)(_bind_params(mod, params))
    chosen = {}
    for gv, f in fused.functions_items():
        shape = dae.kernel_shape(f) if isinstance(f, tvm.tirx.PrimFunc) else None
        options = dae.tile_options(shape, max_buffer_bytes, dma=mode) if shape is not None else []
        if options:
            chosen[gv.name_hint] = options[-1].granularity
    return chosen


@pytest.fixture(scope="module")
def kws():
    return tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)


@pytest.fixture(scope="module")
def kws_dma(kws):
    mod, params = kws
    return mod, params, _dma_granularities(mod, params, "sleep")


def _memory(size: int = 0x1000):
    mem = bytearray(size)
    return (lambda a, n: bytes(mem[a - 0x20000000:a - 0x20000000 + n]),
            lambda a, data: mem.__setitem__(slice(a - 0x20000000, a - 0x20000000 + len(data)), data)), mem


def test_stream_model_copies_when_the_driver_polls_and_checks_the_configuration():
    board = load("stm32f746g-disco")
    access, mem = _memory()
    mem[0:8] = bytes(range(1, 9))
    dma = StreamDma(board, access, lambda address: 1 << 22)  # DMA2EN on
    s0 = dma.base + 0x10
    for offset, value in ((0x08, 0x20000000), (0x0C, 0x20000100), (0x04, 2), (0x14, 0b111)):
        dma.write(s0 + offset, value)
    dma.write(s0, 2 << 6 | 1 << 9 | 1 << 10 | 2 << 11 | 2 << 13 | 1)  # M2M, PINC, MINC, words, EN
    with pytest.raises(DmaRuleError, match="configured while enabled"):
        dma.write(s0 + 0x04, 4)
    assert mem[0x100:0x108] == bytes(8)  # not copied until the driver looks at the flags
    assert not dma.read(dma.base) & 1 << 5  # still running at the first poll
    assert dma.read(dma.base) & 1 << 5  # TCIF0
    assert mem[0x100:0x108] == bytes(range(1, 9)) and dma.read(s0) & 1 == 0


@pytest.mark.parametrize("change,rule", [
    ({"clock": 0}, "clock off"),
    ({"fcr": 0}, "direct mode"),
    ({"dst": 0x20000102}, "not aligned"),
    ({"items": 0}, "item count of 0"),
    ({"src": 0x60000000}, "not all memory"),
    ({"cr": 1 << 21 | 1 << 23, "items": 6}, "multiple of the burst"),
])
def test_stream_model_names_the_broken_rule(change, rule):
    board = load("stm32f746g-disco")
    access, _ = _memory()
    dma = StreamDma(board, access, lambda address: change.get("clock", 1 << 22))
    s0 = dma.base + 0x10
    dma.write(s0 + 0x08, change.get("src", 0x20000000))
    dma.write(s0 + 0x0C, change.get("dst", 0x20000100))
    dma.write(s0 + 0x04, change.get("items", 4))
    dma.write(s0 + 0x14, change.get("fcr", 0b111))
    with pytest.raises(DmaRuleError, match=rule):
        dma.write(s0, 2 << 6 | 1 << 9 | 1 << 10 | 2 << 11 | 2 << 13 | change.get("cr", 0) | 1)


def test_an_interrupting_transfer_ends_when_the_core_sleeps_and_its_interrupt_wakes_it():
    board = load("nucleo-l4r5zi")
    access, mem = _memory()
    mem[0:4] = b"\x05\x06\x07\x08"
    dma = dma_model(board, access, lambda address: 0b101)
    ccr = dma.base + 0x08
    dma.write(ccr + 0x08, 0x20000000)
    dma.write(ccr + 0x0C, 0x20000010)
    dma.write(ccr + 0x04, 4)
    dma.write(ccr, 1 << 14 | 1 << 6 | 1 << 7 | 1 << 1 | 1)  # TCIE
    with pytest.raises(DmaRuleError, match="nothing would wake it"):
        dma.sleep(primask=1)  # DMA1_CH1 (IRQ 11) not enabled in the NVIC
    dma.write(0xE000E100, 1 << 11)  # NVIC_ISER0
    assert dma.read(0xE000E100) == 1 << 11
    for _ in range(3):
        assert not dma.read(dma.base) & 0b10  # polling does not end it
    with pytest.raises(DmaRuleError, match="PRIMASK clear"):
        dma.sleep(primask=0)
    dma.sleep(primask=1)
    assert dma.read(dma.base) & 0b10 and mem[0x10:0x14] == b"\x05\x06\x07\x08"
    assert dma.read(0xE000E200) == 1 << 11  # pending, which woke the core
    dma.write(0xE000E280, 1 << 11)  # NVIC_ICPR0
    assert dma.read(0xE000E200) == 0 and dma.sleeps_by_layer[-1] == 1


def test_h7_dma1_cannot_reach_the_tcms():
    board = load("nucleo-h743zi2")
    dma = dma_model(board, _memory()[0], lambda address: 1)
    assert isinstance(dma, StreamDma) and dma.name == "DMA1"
    s0 = dma.base + 0x10
    dma.write(s0 + 0x08, 0x24000000)
    dma.write(s0 + 0x0C, 0x20000000)  # DTCM
    dma.write(s0 + 0x04, 4)
    dma.write(s0 + 0x14, 0b111)
    with pytest.raises(DmaRuleError, match="DTCM, which DMA1 cannot reach"):
        dma.write(s0, 2 << 6 | 1 << 9 | 1 << 10 | 2 << 11 | 2 << 13 | 1)


def test_l4_channel_stays_enabled_until_the_driver_clears_it():
    board = load("nucleo-l4r5zi")
    access, mem = _memory()
    mem[0:4] = b"\x01\x02\x03\x04"
    dma = dma_model(board, access, lambda address: 0b101)
    assert isinstance(dma, ChannelDma)
    ccr = dma.base + 0x08
    dma.write(ccr + 0x08, 0x20000000)  # CPAR: the source
    dma.write(ccr + 0x0C, 0x20000010)  # CMAR: the destination
    dma.write(ccr + 0x04, 4)
    dma.write(ccr, 1 << 14 | 1 << 6 | 1 << 7 | 1)
    assert not dma.read(dma.base) & 0b10
    assert dma.read(dma.base) & 0b10 and mem[0x10:0x14] == b"\x01\x02\x03\x04"
    with pytest.raises(DmaRuleError, match="configured while enabled"):
        dma.write(ccr + 0x04, 4)


@pytest.mark.emulator
@pytest.mark.parametrize("mode", dae.DMA_MODES)
@pytest.mark.parametrize("board_name", FAMILY_BOARDS)
def test_kws_dma_tiles_run_the_real_driver_bit_exact(kws, board_name, mode):
    mod, params = kws
    compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board_name}", params=params,
                                   granularity=_dma_granularities(mod, params, mode))
    assert uses_dma(compiled)
    x = np.random.default_rng(2).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    run = emulate(compiled, x, board_name)
    np.testing.assert_array_equal(run.outputs, compiled.run_host(x))
    dma_layers = {layer.index: layer for layer in compiled.layers if layer.granularity.endswith(f"+{mode}")}
    assert dma_layers and set(run.dma_bytes) == set(dma_layers)
    for index, layer in dma_layers.items():  # every tile fetches its weight slice: all weights once per row tile
        assert run.dma_bytes[index] == _weight_fetches(layer), layer
        tiles = _tiles(layer)
        assert run.dma_transfers[index] == tiles, layer
        if mode == "sleep":  # the core slept through every transfer, none ran past its phase
            assert run.dma_sleeps[index] == tiles and index not in run.dma_overlapped, layer
        else:  # every transfer but the layer's first ran while the core executed a tile
            assert run.dma_overlapped.get(index, 0) == tiles - 1 and index not in run.dma_sleeps, layer


def _tiles(layer) -> int:
    g = dae.Granularity.parse(layer.granularity)
    out = layer.output_shapes[0]
    if layer.op == "dense":
        return out[1] // g.channels
    return out[2] // g.rows * (out[1] // g.channels)


def _weight_fetches(layer) -> int:
    """Weight bytes a DMA-tiled layer moves: its int8 weights (MACs per output position) once per
    row tile."""
    out = layer.output_shapes[0]
    if layer.op == "dense":
        return layer.macs // out[0]
    rows = dae.Granularity.parse(layer.granularity).rows
    return out[2] // rows * (layer.macs // (out[2] * out[3]))


def _mutated(compiled, file: str, old: str, new: str):
    text = compiled.sources.files[file]
    assert old in text, f"{old!r} not in {file}"
    files = dict(compiled.sources.files, **{file: text.replace(old, new)})
    return tvm_stm32dvfs.CompiledModel(board=compiled.board, lowered=compiled.lowered, sources=CSources(files))


@pytest.mark.emulator
@pytest.mark.parametrize("board_name,file,old,new,rule", [
    # a runtime that changes a running channel's control register (its interrupt enable)
    ("stm32f746g-disco", "stm32dvfs_dma.c", "    *r->control |= 1u;\n", "    *r->control |= 1u;\n    *r->control |= 4u;\n",
     "stream 0 configured while enabled"),
    ("nucleo-l4r5zi", "stm32dvfs_dma.c", "    *r->control |= 1u;\n", "    *r->control |= 1u;\n    *r->control |= 4u;\n",
     "channel 1 configured while enabled"),
    # a stream driver that enables the stream before programming it
    ("stm32f746g-disco", "stm32dvfs_dma_stream.c", "  DMA_LIFCR = DMA_LIFCR_S0_ALL;\n  DMA_S0PAR",
     "  DMA_S0CR |= 1u;\n  DMA_LIFCR = DMA_LIFCR_S0_ALL;\n  DMA_S0PAR", "enabled for a peripheral transfer"),
    # an H7 driver that puts the copy in DTCM, which DMA1 cannot reach
    ("nucleo-h743zi2", "stm32dvfs_dma_stream.c", "DMA_S0M0AR = (uint32_t)(uintptr_t)dst;",
     "DMA_S0M0AR = 0x20000000u;", "DTCM, which DMA1 cannot reach"),
    # the DMA clock left off
    ("nucleo-f411re", "stm32dvfs_dma_stream.c", "  RCC_AHB1ENR |= RCC_AHB1ENR_DMAEN;\n", "", "clock off"),
    # a sleeping wait without the transfer-complete interrupt, or with it not masked
    ("stm32f746g-disco", "stm32dvfs_dma_stream.c", "(interrupt ? DMA_SxCR_TCIE : 0u)", "(interrupt ? 0u : 0u)",
     "nothing would wake it"),
    ("nucleo-l4r5zi", "stm32dvfs_dma.c", "NVIC_ISER[r->irq / 32u] = irq_bit;", "(void)irq_bit;",
     "nothing would wake it"),
    ("nucleo-h743zi2", "stm32dvfs_dma.c", '__asm volatile("cpsid i" ::: "memory");', "", "PRIMASK clear"),
])
def test_a_driver_that_breaks_a_rule_is_caught(kws_dma, board_name, file, old, new, rule):
    mod, params, chosen = kws_dma
    compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board_name}", params=params, granularity=chosen)
    wrong = _mutated(compiled, file, old, new)
    x = np.zeros(compiled.inputs[0].shape, np.float32)
    with pytest.raises(DmaRuleError, match=rule):
        emulate(wrong, x, board_name)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("mode", dae.DMA_MODES)
@pytest.mark.parametrize("name", ["ic_resnet8", "mcunet_ir", "vww_mobilenet"])
@pytest.mark.parametrize("board_name", FAMILY_BOARDS)
def test_bundled_models_with_dma_tiles_bit_exact_on_every_family(name, board_name, mode):
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].int8_path)
    compiled = tvm_stm32dvfs.build(mod, target=f"stm32dvfs-{board_name}", params=params,
                                   granularity=_dma_granularities(mod, params, mode))
    x = np.random.default_rng(3).standard_normal(compiled.inputs[0].shape).astype(np.float32)
    run = emulate(compiled, x, board_name)
    np.testing.assert_array_equal(run.outputs, compiled.run_host(x))
    assert sum(run.dma_bytes.values()) > 0
    assert sum((run.dma_sleeps if mode == "sleep" else run.dma_overlapped).values()) > 0


@pytest.mark.emulator
def test_a_failed_transfer_is_finished_by_the_cpu_and_reported_by_the_model(kws_dma):
    """A driver that refuses every transfer (as the H7's does for a TCM address): the CPU copies
    instead, no DMA byte moves, and stm32dvfs_model_run returns STM32DVFS_ERROR_DMA (3)."""
    mod, params, chosen = kws_dma
    compiled = tvm_stm32dvfs.build(mod, target="stm32dvfs-nucleo-h743zi2", params=params, granularity=chosen)
    refusing = _mutated(compiled, "stm32dvfs_dma_stream.c", "if (!reachable(dst) || !reachable(src)) {",
                        "if (reachable(dst) || reachable(src)) {")
    x = np.zeros(compiled.inputs[0].shape, np.float32)
    with pytest.raises(RuntimeError, match="stm32dvfs_model_run returned 3"):
        emulate(refusing, x, "nucleo-h743zi2")
