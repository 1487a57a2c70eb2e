"""The DVFS plan problem as plain data, and the pure checker every solver's answer goes through.

One inference runs the layers in order; each layer picks one candidate (a granularity, an
access and an execute state, an access method — opaque to the solver) with its time and energy
including its intra-layer switches, entered in ``first_state`` and left in ``last_state``.
Between consecutive layers the clock switches from one's last state to the next one's first
state at the transition's cost. A period starts in ``initial_state``; after the last layer the
clock returns to it (charged to the period's energy, not to the latency), and the rest of the
period is idle in the cheapest mode whose wake-up fits (busy-waiting is always possible).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Hashable, Mapping, Sequence

import numpy as np

State = Hashable


@dataclass(frozen=True)
class Candidate:
    layer: int
    key: tuple  # what the plan means: (granularity, access state, execute state, method, ...)
    first_state: State
    last_state: State
    time_us: float
    energy_uj: float


@dataclass(frozen=True)
class IdleMode:
    """Filling the slack: power while idle, and the wake-up it costs before the next period."""

    name: str
    power_mw: float
    wakeup_us: float = 0.0
    wakeup_energy_uj: float = 0.0
    #: usable only when the period starts (and idles) in this state: stop mode wakes on HSI
    requires_state: State | None = None

    def energy_uj(self, slack_us: float) -> float:
        """Idling ``slack_us`` (at least the wake-up) in this mode, the wake-up included."""
        return self.power_mw * (slack_us - self.wakeup_us) / 1000.0 + self.wakeup_energy_uj


@dataclass(frozen=True)
class PlanProblem:
    layers: tuple[tuple[Candidate, ...], ...]
    transitions: Mapping[tuple[State, State], tuple[float, float]]  # (a, b) -> (us, uJ); a == b costs 0
    initial_state: State
    budget_us: float
    period_us: float | None = None  # defaults to the budget
    idle_modes: tuple[IdleMode, ...] = ()
    busy_power_mw: Mapping[State, float] = field(default_factory=dict)  # busy-wait power per state
    name: str = "problem"
    #: other states the period may start and idle in; :func:`~.plan.solve` tries each
    initial_choices: tuple[State, ...] = ()

    @property
    def period(self) -> float:
        return self.budget_us if self.period_us is None else self.period_us

    def transition(self, a: State, b: State) -> tuple[float, float]:
        if a == b:
            return 0.0, 0.0
        return self.transitions[(a, b)]

    def states(self) -> list[State]:
        found = {self.initial_state}
        for cands in self.layers:
            for c in cands:
                found.update((c.first_state, c.last_state))
        return sorted(found, key=repr)

    def with_budget(self, budget_us: float, period_us: float | None = None) -> "PlanProblem":
        return replace(self, budget_us=budget_us, period_us=period_us)

    def starts(self) -> list["PlanProblem"]:
        """One problem per state the period may start in (the initial state first)."""
        others = [s for s in self.initial_choices if s != self.initial_state]
        return [replace(self, initial_choices=())] + [replace(self, initial_state=s, initial_choices=()) for s in others]

    def max_idle_power_mw(self) -> float:
        """The highest power any idle option may draw (what dominance pruning must allow for)."""
        powers = [m.power_mw for m in self.idle_modes]
        powers += [self.busy_power_mw[s] for s in [self.initial_state, *self.initial_choices] if s in self.busy_power_mw]
        return max(powers, default=0.0)


def idle_energy(problem: PlanProblem, slack_us: float) -> tuple[float, str]:
    """The cheapest way to spend ``slack_us`` at the end of the period: (uJ, mode name)."""
    if slack_us < -1e-9:
        return float("inf"), "none"
    slack = max(slack_us, 0.0)
    options = []
    busy = problem.busy_power_mw.get(problem.initial_state)
    if busy is not None:
        options.append((busy * slack / 1000.0, "busy"))
    for mode in problem.idle_modes:
        if mode.requires_state is not None and mode.requires_state != problem.initial_state:
            continue
        if slack >= mode.wakeup_us:
            options.append((mode.energy_uj(slack), mode.name))
    if not options:
        return (0.0, "none") if slack == 0 else (float("inf"), "none")
    return min(options)


def idle_energy_array(problem: PlanProblem, slack_us: np.ndarray) -> np.ndarray:
    """:func:`idle_energy` of many slacks at once (inf where none fits)."""
    slack = np.maximum(slack_us, 0.0)
    out = np.where(slack_us < -1e-9, np.inf, np.where(slack == 0, 0.0, np.inf))
    busy = problem.busy_power_mw.get(problem.initial_state)
    if busy is not None:
        out = np.minimum(out, np.where(slack_us < -1e-9, np.inf, busy * slack / 1000.0))
    for mode in problem.idle_modes:
        if mode.requires_state is not None and mode.requires_state != problem.initial_state:
            continue
        cost = mode.energy_uj(slack)  # vectorised over the slacks
        out = np.minimum(out, np.where((slack >= mode.wakeup_us) & (slack_us >= -1e-9), cost, np.inf))
    return out


def evaluate(problem: PlanProblem, choice: Sequence[Candidate]) -> tuple[float, float, str]:
    """(latency us, energy of the period uJ, idle mode) of one candidate per layer."""
    if len(choice) != len(problem.layers):
        raise ValueError(f"{len(choice)} choices for {len(problem.layers)} layers")
    state = problem.initial_state
    time = energy = 0.0
    for layer, c in enumerate(choice):
        if c.layer != layer:
            raise ValueError(f"candidate of layer {c.layer} chosen for layer {layer}")
        t, e = problem.transition(state, c.first_state)
        time += t + c.time_us
        energy += e + c.energy_uj
        state = c.last_state
    back_t, back_e = problem.transition(state, problem.initial_state)
    idle, mode = idle_energy(problem, problem.period - time - back_t)
    return time, energy + back_e + idle, mode


class PlanCheckError(AssertionError):
    """A plan breaks a limit of its problem (a solver bug: every solver rechecks its answer)."""


def check_plan(problem: PlanProblem, choice: Sequence[Candidate], latency_us: float, energy_uj: float,
               rel: float = 1e-6) -> None:
    """Recompute the plan's figures and raise naming the limit it breaks."""
    t, e, _ = evaluate(problem, choice)
    if t > problem.budget_us * (1 + rel) + 1e-9:
        raise PlanCheckError(f"latency {t:.3f} us exceeds the budget {problem.budget_us:.3f} us")
    back_t, _ = problem.transition(choice[-1].last_state, problem.initial_state) if choice else (0.0, 0.0)
    if t + back_t > problem.period * (1 + rel) + 1e-9:
        raise PlanCheckError(f"inference plus return switch ({t + back_t:.3f} us) exceeds the period")
    if abs(t - latency_us) > rel * max(1.0, t) or abs(e - energy_uj) > rel * max(1.0, e) + 1e-9:
        raise PlanCheckError(f"reported latency/energy {latency_us:.6f}/{energy_uj:.6f} differ from "
                             f"the recomputed {t:.6f}/{e:.6f}")
