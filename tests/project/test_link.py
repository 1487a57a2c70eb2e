"""The board link on QEMU: the model's firmware speaks the framed protocol on its UART behind a
pseudo-terminal; several inputs through one boot equal the host build, and the faults a serial
line or a wrong firmware can cause are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.errors import BoardLinkError
from tvm_stm32dvfs.models.zoo import ZOO
from tvm_stm32dvfs.project.link import QemuLink
from tvm_stm32dvfs.project.protocol import FrameKind, encode, model_hash


@pytest.fixture(scope="module")
def kws():
    mod, params = tvm_stm32dvfs.from_onnx(ZOO["kws_dscnn"].int8_path)
    return tvm_stm32dvfs.build(mod, params=params, model_name="kws")


@pytest.mark.emulator
def test_several_inputs_through_one_boot_equal_the_host_and_faults_are_named(kws, tool):
    tool("arm-none-eabi-gcc")
    tool("qemu-system-arm")
    rng = np.random.default_rng(11)
    xs = [rng.standard_normal(kws.inputs[0].shape).astype(np.float32) for _ in range(3)]
    with QemuLink(kws, timeout_s=60) as link:
        assert link.port.startswith("/dev/")
        for x in xs:
            answer = link.infer(x)
            assert answer.status == 0 and answer.csv is None
            np.testing.assert_array_equal(answer.outputs[0], kws.run_host(x))
        good = kws._input_arrays(xs[0])[0].tobytes()
        # a flipped payload byte: the firmware's CRC check refuses it, and the link goes on
        frame = bytearray(encode(FrameKind.INPUT, link.model, good))
        frame[30] ^= 0x01
        link.write(bytes(frame))
        with pytest.raises(BoardLinkError, match="refused the input: an input frame arrived garbled"):
            link.answer()
        # an input built for another model
        link.write(encode(FrameKind.INPUT, model_hash({"other.c": ""}), good))
        with pytest.raises(BoardLinkError, match="refused the input: an input frame for another model"):
            link.answer()
        # an input of the wrong length
        link.write(encode(FrameKind.INPUT, link.model, good[:-4]))
        with pytest.raises(BoardLinkError, match="refused the input: an input of the wrong length"):
            link.answer()
        # after the faults the same boot still answers right
        np.testing.assert_array_equal(link.infer(xs[1]).outputs[0], kws.run_host(xs[1]))
        # a host reconnecting asks the firmware to announce itself: READY again, not a profiling build
        link.hello()
        assert link.firmware_profiles is False
        np.testing.assert_array_equal(link.infer(xs[2]).outputs[0], kws.run_host(xs[2]))
        # a truncated frame: the firmware waits for the rest, the host's reader times out
        link.reader.timeout_s = 1.0
        link.write(encode(FrameKind.INPUT, link.model, good)[:100])
        with pytest.raises(BoardLinkError, match="no complete frame header within 1 s"):
            link.answer()


@pytest.mark.emulator
def test_a_firmware_of_another_model_is_refused_at_its_first_frame(kws, tool):
    tool("qemu-system-arm")
    plain = tvm_stm32dvfs.build(kws.source_mod, granularity="largest", model_name="kws")  # same network, other tiles
    with pytest.raises(BoardLinkError, match=f"runs another model \\(hash {model_hash(plain.sources.files).hex()}"):
        with QemuLink(kws, timeout_s=30, firmware=plain):
            pass
