"""Energy per inference period of five deployment policies over one Profile and board model.

The policies, each a plan of the same :class:`~tvm_stm32dvfs.optimize.PlanProblem` (so one
evaluator charges them all the same way — run, switch, return switch and idle energy of a whole
period):

- ``tinyengine``: every layer plain (no DAE) at the board's fastest state, busy-waiting in the
  slack (TinyEngine as shipped);
- ``tinyengine_sleep``: the same inference, then Sleep (WFI) or Stop in the slack, whichever is
  cheaper including its wake-up (TinyEngine with the STM32 power-saving modes, race-to-idle);
- ``static_dvfs``: one state for the whole inference, the slowest that meets the budget, plain
  kernels, best idle mode;
- ``layer_dvfs``: one state per layer, plain kernels, minimum energy (DP);
- ``dae_dvfs``: decoupled access-execute with a state per phase (this project; solved by the
  chosen method: the DP, the exact label search or Z3);
- ``dae_race``: not a policy of the paper but the reference that separates the two effects:
  the fastest DAE tile of every layer at the fastest state, then sleep or stop. (e) against it
  is what DVFS adds to the DAE kernels; it against (b) is what the kernels alone change.

(b)–(d) are plans of (e)'s problem, so (e) also starts from the cheapest of them: a discretised
or time-limited solver can then never report a plan worse than one it contains.

Each plan is compiled into the firmware, run in the emulator with the board's clock driver and
register model, and charged from what the emulator saw: instructions and flash reads per layer
phase at the clock the registers selected (cycle model, datasheet power), plus the board's
transition model for every switch the trace shows (PLL lock, regulator settling: hardware waits
the emulator does not time), the switch back to the start state and the idle mode in the rest
of the period. The optimizer's prediction is reported next to it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from ..boards import Board
from ..files import write_text_atomically
from ..optimize import DvfsPlan, Solution, solve
from ..optimize.from_profile import dma_cost, plan_problem, switch_cost
from ..optimize.plan import DEFAULT_METHOD, minimum_latency_ms
from ..optimize.problem import Candidate, PlanProblem, evaluate
from ..profile import Profile
from ..vocabulary import PLAIN, dma_mode

POLICIES = ("tinyengine", "tinyengine_sleep", "static_dvfs", "layer_dvfs", "dae_dvfs", "dae_race")
#: the policies that run the plain (non-decoupled) kernels
PLAIN_POLICIES = ("tinyengine", "tinyengine_sleep", "static_dvfs", "layer_dvfs")
POLICY_LABELS = {
    "tinyengine": "(a) TinyEngine, max clock, busy idle",
    "tinyengine_sleep": "(b) TinyEngine + sleep/stop",
    "static_dvfs": "(c) static DVFS",
    "layer_dvfs": "(d) per-layer DVFS, no DAE",
    "dae_dvfs": "(e) DAE + per-phase DVFS",
    "dae_race": "DAE kernels at max clock + sleep/stop (no DVFS)",
}


# ----------------------------------------------------------------------------- policies
def _plan_of(problem: PlanProblem, choice: Sequence[Candidate], solver: str) -> DvfsPlan:
    latency, energy, mode = evaluate(problem, choice)
    return DvfsPlan.from_solution(problem, Solution(tuple(choice), latency, energy, mode, False, solver, 0.0))


def _fixed(problem: PlanProblem, choice: Sequence[Candidate], starts: Sequence, solver: str) -> DvfsPlan | None:
    """The cheapest feasible way to run ``choice`` from one of ``starts`` (None: over budget, or
    no such choice)."""
    if choice is None:
        return None
    best = None
    for s in starts:
        sub = replace(problem, initial_state=s, initial_choices=())
        latency, energy, _ = evaluate(sub, choice)
        back_us, _ = sub.transition(choice[-1].last_state, s)
        if latency > sub.budget_us + 1e-9 or latency + back_us > sub.period + 1e-9 or not math.isfinite(energy):
            continue
        if best is None or energy < best.predicted_energy_uj:
            best = _plan_of(sub, choice, solver)
    return best


def _plain_at(problem: PlanProblem, state) -> list[Candidate] | None:
    choice = []
    for cands in problem.layers:
        found = [c for c in cands if c.key.granularity == PLAIN and c.first_state == state]
        if not found:
            return None
        choice.append(found[0])
    return choice


def _fastest_at(problem: PlanProblem, state) -> list[Candidate] | None:
    """Per layer its fastest candidate running both phases at ``state`` (None if a layer has none)."""
    choice = [min((c for c in cands if c.key.access_state == state and c.key.execute_state == state),
                  key=lambda c: (c.time_us, c.energy_uj), default=None) for cands in problem.layers]
    return None if None in choice else choice


def _only_plain(problem: PlanProblem) -> PlanProblem:
    return replace(problem, layers=tuple(tuple(c for c in cands if c.key.granularity == PLAIN)
                                         for cands in problem.layers))


def _plain_fits(problem: PlanProblem) -> bool:
    """Every layer has its plain kernel (the plain build fit the board's RAM when profiled)."""
    return all(_only_plain(problem).layers)


def _cheapest(plans: Sequence[DvfsPlan | None]) -> DvfsPlan | None:
    found = [p for p in plans if p is not None]
    return min(found, key=lambda p: p.predicted_energy_uj) if found else None


def policy_plans(problem: PlanProblem, board: Board, method: str = DEFAULT_METHOD, time_limit_s: float = 2.0) -> dict:
    """The plan of every policy at ``problem``'s budget and period (None where it cannot meet
    the budget). ``problem`` comes from :func:`~tvm_stm32dvfs.optimize.from_profile.plan_problem`."""
    fastest = board.max_state().id
    wake = board.stop_wakeup_state().id
    states = sorted({c.first_state for cands in problem.layers for c in cands if c.key.granularity == PLAIN},
                    key=lambda s: board.state(s).hz)
    plans: dict[str, DvfsPlan | None] = {}
    race = _plain_at(problem, fastest)
    busy_only = replace(problem, initial_state=fastest, initial_choices=(), idle_modes=())
    plans["tinyengine"] = _fixed(busy_only, race, [fastest], "tinyengine")
    plans["tinyengine_sleep"] = _fixed(problem, race, [fastest, wake], "tinyengine_sleep")
    plans["static_dvfs"] = None
    for s in states:  # slowest first: the first that fits is the static DVFS state
        plan = _fixed(problem, _plain_at(problem, s), [s, wake], "static_dvfs")
        if plan is not None:
            plans["static_dvfs"] = plan
            break
    plans["dae_race"] = _fixed(problem, _fastest_at(problem, fastest), [fastest, wake], "dae_race")
    inside = [plans["tinyengine_sleep"], plans["static_dvfs"]]
    layer_dvfs = _solve(_only_plain(problem), "dp", time_limit_s) if _plain_fits(problem) else None
    plans["layer_dvfs"] = _cheapest([layer_dvfs, *inside])
    plans["dae_dvfs"] = _cheapest([_solve(problem, method, time_limit_s), *inside, plans["layer_dvfs"],
                                   plans["dae_race"]])
    for name in ("layer_dvfs", "dae_dvfs"):
        if plans[name] is not None and plans[name].solver != name:
            solution = replace(plans[name].solution, solver=f"{name} (= {plans[name].solver}'s plan)")
            plans[name] = replace(plans[name], solution=solution)
    return plans


def _solve(problem: PlanProblem, method: str, time_limit_s: float) -> DvfsPlan | None:
    from ..errors import InfeasibleBudgetError

    try:
        return solve(problem, method, time_limit_s)
    except InfeasibleBudgetError:
        return None


# ----------------------------------------------------------------------------- lower bound
def lp_lower_bound_uj(problem: PlanProblem) -> float:
    """A lower bound on the energy of any plan: the LP relaxation (fractional choices, no switch
    costs) solved by HiGHS once per idle option, the least of them. Valid because a plan's
    energy is its candidates' energies + its switches (>= 0) + its idle option's energy, which
    is affine in the time the candidates take."""
    import highspy

    cands = [c for layer in problem.layers for c in layer]
    options = []  # (power mW, wake-up us, wake-up energy uJ)
    for s in {problem.initial_state, *problem.initial_choices}:
        if s in problem.busy_power_mw:
            options.append((problem.busy_power_mw[s], 0.0, 0.0))
    options += [(m.power_mw, m.wakeup_us, m.wakeup_energy_uj) for m in problem.idle_modes]
    if not options:
        options = [(0.0, 0.0, 0.0)]
    # the constraints: one candidate per layer (rows 0..L-1), the latency (row L); column i is
    # candidate i, with entries in rows (its layer, L)
    n, m = len(cands), len(problem.layers) + 1
    matrix = highspy.HighsSparseMatrix()
    matrix.format_ = highspy.MatrixFormat.kColwise
    matrix.num_col_, matrix.num_row_ = n, m
    matrix.start_ = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
    matrix.index_ = np.array([r for c in cands for r in (c.layer, m - 1)], dtype=np.int32)
    matrix.value_ = np.array([v for c in cands for v in (1.0, c.time_us)], dtype=np.float64)
    best = math.inf
    for power, wake, wake_energy in options:
        limit = min(problem.budget_us, problem.period - wake)
        if limit < 0:
            continue
        # the bare solver: highspy.Highs() enables callbacks, which prints a banner on stdout
        # whatever the output options say (highspy 1.16)
        h = highspy._core._Highs()
        h.setOptionValue("output_flag", False)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        # energy of the period: sum x (e - p t) + p (period - wake) + wake energy
        lp.col_cost_ = np.array([c.energy_uj - power * c.time_us / 1000 for c in cands], dtype=np.float64)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.ones(n)
        lp.row_lower_ = np.array([1.0] * (m - 1) + [-highspy.kHighsInf])
        lp.row_upper_ = np.array([1.0] * (m - 1) + [limit])
        lp.a_matrix_ = matrix
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            continue
        best = min(best, h.getInfo().objective_function_value + power * (problem.period - wake) / 1000 + wake_energy)
    return best


# ----------------------------------------------------------------------------- emulated cost
@dataclass(frozen=True)
class PhaseSpan:
    """Time one layer phase ran at one clock state in the emulated run (phases of a decoupled
    layer alternate; this is their total)."""

    layer: int
    phase: str
    state: str
    mhz: float
    time_us: float
    energy_uj: float


@dataclass(frozen=True)
class EmulatedCost:
    latency_ms: float
    energy_uj: float
    switches: int
    switch_time_us: float
    idle_mode: str
    spans: tuple[PhaseSpan, ...]
    clock_status: int


def _state_of(board: Board, snapshot):
    for s in board.dvfs_states():
        if (s.hz, s.wait_states, s.scale, s.source) == (snapshot.hz, snapshot.wait_states, snapshot.scale,
                                                        snapshot.source):
            return s
    raise AssertionError(f"the registers selected a clock no DVFS state of {board.name} has: {snapshot}")


def emulated_cost(problem: PlanProblem, board: Board, plan: DvfsPlan, run, cycle_model,
                  profile: Profile) -> EmulatedCost:
    """Charge one emulated run (``emulate(..., board=board)`` of the model built with ``plan``)
    like the optimizer charges the plan, but from the instructions the emulator executed and
    the clock its registers selected. Flash data reads, which do not depend on the clock, are
    the profile's counts of the same kernel and tile on the same input (counting them again
    here would put a Python callback on every load)."""
    decoupled = {c.layer for c in plan.choices if c.key.granularity != PLAIN}
    flash_reads = {(r.layer, r.granularity, r.phase): r.flash_reads for r in profile.rows}

    def phase_of(layer: int, phase: str) -> str:
        return "access" if layer in decoupled and phase == "plain" else phase

    clock: dict[tuple[int, str], object] = {}
    initial = board.state(plan.initial_state)
    current, switches, switch_us, switch_uj = initial, 0, 0.0, 0.0
    for layer, phase, snapshot in run.clock_trace:
        state = _state_of(board, snapshot)
        key = (layer, phase_of(layer, phase))
        if clock.setdefault(key, state) != state:
            raise AssertionError(f"layer {layer} {key[1]} ran at {clock[key].id} and at {state.id}")
        if state != current:
            t = board.transition(current, state)
            switches, switch_us, switch_uj = switches + 1, switch_us + t.time_us, switch_uj + t.energy_uj
            current = state
    spans = []
    for (layer, phase), (classes, _) in sorted(run.phase_counts(decoupled).items()):
        state = clock[(layer, phase)]
        reads = flash_reads[(layer, plan.choices[layer].key.granularity, phase)]
        charge = cycle_model.charge(classes, reads, state, board)
        spans.append(PhaseSpan(layer, phase, state.id, state.mhz, charge.time_us, charge.energy_uj))
    # the DMA transfers of the run (counted by the emulator's DMA model), costed as the optimizer
    # costs them, at the states the registers selected for the layer's phases
    execute_us = {s.layer: s.time_us for s in spans if s.phase == "execute"}
    for layer, transfers in sorted(run.dma_transfers.items()):
        mode = dma_mode(plan.choices[layer].key.granularity)
        access = clock[(layer, "access")]
        time_us, energy_uj = dma_cost(board, mode, transfers, run.dma_items[layer], access, clock[(layer, "execute")],
                                      execute_us[layer])
        spans.append(PhaseSpan(layer, "dma", access.id, access.mhz, time_us, energy_uj))
    spans.sort(key=lambda s: (s.layer, s.phase))  # a layer's DMA wait between its access and execute
    latency_us = sum(s.time_us for s in spans) + switch_us
    # the switch back to the period's start state runs after the inference, outside the emulated
    # call: its driver cycles are the profile's measurement
    back_us, back_uj = switch_cost(profile, board, current, initial)
    energy = sum(s.energy_uj for s in spans) + switch_uj + back_uj
    slack = problem.period - latency_us - back_us
    energy += _idle_energy(problem, plan, slack)
    return EmulatedCost(latency_us / 1000, energy, switches, switch_us, plan.idle_mode, tuple(spans), run.clock_status)


def _idle_energy(problem: PlanProblem, plan: DvfsPlan, slack_us: float) -> float:
    """The energy of the plan's idle mode over ``slack_us`` (the firmware idles as planned;
    a slack shorter than the mode's wake-up is a missed period, charged as infinite)."""
    slack = max(slack_us, 0.0)
    if plan.idle_mode in ("busy", "none"):
        return problem.busy_power_mw[plan.initial_state] * slack / 1000
    for mode in problem.idle_modes:
        if mode.name == plan.idle_mode and mode.requires_state in (None, plan.initial_state):
            return mode.energy_uj(slack) if slack >= mode.wakeup_us else math.inf
    raise AssertionError(f"the plan idles in {plan.idle_mode}, which {problem.name} does not offer")


# ----------------------------------------------------------------------------- the evaluation
@dataclass(frozen=True)
class PolicyResult:
    """One row: a policy at one QoS level (budget = period) of one model on one board."""

    model: str
    board: str
    policy: str
    budget_ms: float
    period_ms: float
    feasible: bool
    #: why an infeasible policy has no plan: "over budget", or "does not fit" (its kernels' firmware
    #: exceeds the board's RAM)
    note: str = ""
    predicted_latency_ms: float | None = None
    predicted_energy_uj: float | None = None
    latency_ms: float | None = None  # emulated
    energy_uj: float | None = None  # emulated
    meets_budget: bool | None = None  # the emulated latency (and return switch, wake-up) fits
    idle_mode: str | None = None
    initial_state: str | None = None
    states: tuple[str, ...] = ()
    switches: int | None = None
    optimal: bool | None = None
    solver: str | None = None
    saving_vs_tinyengine: float | None = None  # % of (a)'s energy, emulated figures
    saving_vs_tinyengine_sleep: float | None = None
    saving_vs_dae_race: float | None = None  # what DVFS adds to the DAE kernels
    #: (e)'s saving against (b) split in two, both % of (b)'s energy so that they add up to
    #: saving_vs_tinyengine_sleep: the kernels (DAE at the fastest state + sleep/stop against (b))
    #: and DVFS ((e) against that); on dae_dvfs rows only
    kernel_effect: float | None = None
    dvfs_effect: float | None = None
    #: the QoS level: the budget over the baseline's latency (plain kernels at the fastest state)
    qos: float | None = None
    lower_bound_uj: float | None = None  # LP bound of the level (the same for every policy)
    gap_to_bound: float | None = None  # % above the bound
    plan: DvfsPlan | None = field(default=None, repr=False, compare=False)
    spans: tuple[PhaseSpan, ...] = field(default=(), repr=False, compare=False)

    def record(self) -> dict:
        """The row as JSON/CSV data (the plan and spans left out)."""
        out = asdict(self)
        out.pop("plan")
        out.pop("spans")
        out["states"] = " ".join(self.states)
        return out


#: The QoS levels of the paper: latency budgets as multiples of the baseline's own latency, the
#: plain kernels at the board's fastest state (what TinyEngine as shipped takes).
QOS_LEVELS = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0)


def qos_budgets_ms(baseline_ms: float, qos: Sequence[float] = QOS_LEVELS) -> list[float]:
    """The budget of each QoS level: ``baseline_ms`` times each multiple (at least 1)."""
    if not qos or any(not (q >= 1.0) for q in qos):
        raise ValueError(f"QoS levels are multiples of the baseline's latency, at least 1.0: got {list(qos)}")
    return [baseline_ms * q for q in sorted(set(qos))]


def baseline_plan(profile: Profile, board: Board) -> DvfsPlan | None:
    """The baseline's inference: every layer plain at the fastest state, busy in the rest of a
    period as long as itself (None if the plain build does not fit the board's RAM)."""
    fastest = board.max_state().id
    problem = plan_problem(profile, board, 1e9)
    choice = _plain_at(problem, fastest)
    if choice is None:
        return None
    latency_us = evaluate(replace(problem, initial_state=fastest, initial_choices=()), choice)[0]
    tight = replace(plan_problem(profile, board, latency_us / 1000 * (1 + 1e-9)), initial_state=fastest,
                    initial_choices=(), idle_modes=())
    return _fixed(tight, choice, [fastest], "tinyengine")


def _saving(energy: float | None, baseline: float | None) -> float | None:
    if energy is None or baseline is None or not math.isfinite(baseline) or baseline <= 0:
        return None
    return 100.0 * (baseline - energy) / baseline


def _gap(energy: float, bound: float) -> float | None:
    if not (math.isfinite(bound) and bound > 0 and math.isfinite(energy)):
        return None
    return 100.0 * (energy - bound) / bound


def evaluate_policies(compiled, board: Board, profile: Profile, budgets_ms: Sequence[float] | None = None,
                      qos: Sequence[float] = QOS_LEVELS, method: str = DEFAULT_METHOD, time_limit_s: float = 2.0,
                      emulate_runs: bool = True, x=None, progress: Callable[[str], None] | None = None
                      ) -> list[PolicyResult]:
    """Every policy at every QoS level (budget = period) of ``compiled`` (built without a plan;
    ``profile`` is its profile on ``board``): the budgets are ``qos`` times the baseline's
    latency (:func:`baseline_plan`; its emulated run when ``emulate_runs``, so that the baseline
    meets the first level in the firmware too), or ``budgets_ms``. A policy that cannot meet a
    level has a row saying so. With ``emulate_runs`` each distinct plan is compiled into the
    firmware and run in the emulator with the board's clock driver (the reported latency and
    energy); else the predictions are reported (and ``compiled`` is not needed)."""
    runner = _PlanRunner(compiled, board, profile, x, emulate_runs)
    baseline_ms = runner.baseline_ms()
    if budgets_ms is None:
        if baseline_ms is None:  # no plain build fits: the ladder starts at the fastest plan
            baseline_ms = minimum_latency_ms(plan_problem(profile, board, 1.0))
        budgets_ms = qos_budgets_ms(baseline_ms, qos)
    rows: list[PolicyResult] = []
    for level, budget in enumerate(budgets_ms):
        where = f"{profile.model} on {board.name}: QoS {level + 1}/{len(budgets_ms)}"
        problem = plan_problem(profile, board, budget)
        if progress is not None:
            progress(f"{where} ({budget:.3f} ms), solving")
        plans = policy_plans(problem, board, method, time_limit_s)
        bound = lp_lower_bound_uj(problem)
        level_rows = []
        for policy in POLICIES:
            if progress is not None and plans[policy] is not None and emulate_runs:
                progress(f"{where}, emulating {policy}")
            row = runner.row(problem, budget, policy, plans[policy], bound)
            level_rows.append(replace(row, qos=budget / baseline_ms if baseline_ms else None))
        rows += _with_savings(level_rows)
    return rows


class _PlanRunner:
    """The figures of one model's plans on one board: predicted, or with ``emulate_runs`` the
    emulated firmware of each distinct plan (run once) costed by the cycle model."""

    def __init__(self, compiled, board: Board, profile: Profile, x, emulate_runs: bool):
        from ..sim.cycles import load_cycle_model
        from ..sim.emulator import memory_map

        self.compiled, self.board, self.profile, self.emulate_runs = compiled, board, profile, emulate_runs
        self.model = load_cycle_model(board.core)
        self.memory = memory_map(board)
        # the profile's input when none is given: counts are data-dependent
        self.x = compiled.sample_inputs() if emulate_runs and x is None else x
        self.runs: dict[tuple, object] = {}

    def run_of(self, plan: DvfsPlan):
        from ..sim.emulator import emulate

        key = (tuple(c.key for c in plan.choices), plan.initial_state)
        if key not in self.runs:
            self.runs[key] = emulate(self.compiled.with_plan(plan), self.x, board=self.board, memory=self.memory)
        return self.runs[key]

    def cost(self, problem: PlanProblem, plan: DvfsPlan):
        """The emulated figures of ``plan`` (None when runs are not emulated)."""
        if not self.emulate_runs:
            return None
        start = replace(problem, initial_state=plan.initial_state, initial_choices=())
        return emulated_cost(start, self.board, plan, self.run_of(plan), self.model, self.profile)

    def baseline_ms(self) -> float | None:
        """The baseline's latency (:func:`baseline_plan`), None when no plain build fits; with
        emulated runs the longer of predicted and emulated (the emulator attributes an
        instruction or two at layer boundaries differently from the profile's builds)."""
        base = baseline_plan(self.profile, self.board)
        if base is None:
            return None
        problem = replace(plan_problem(self.profile, self.board, base.budget_ms), idle_modes=())
        cost = self.cost(problem, base)
        return max(base.predicted_latency_ms, cost.latency_ms) if cost else base.predicted_latency_ms

    def row(self, problem: PlanProblem, budget: float, policy: str, plan: DvfsPlan | None,
            bound: float) -> PolicyResult:
        """``policy``'s row at the budget (= period) ``budget`` ms of ``problem``, ``plan`` None
        when it has none."""
        name, board = self.profile.model, self.board
        if plan is None:
            fits = policy not in PLAIN_POLICIES or _plain_fits(problem)
            return PolicyResult(name, board.name, policy, budget, budget, False,
                                "over budget" if fits else "does not fit", lower_bound_uj=bound)
        cost = self.cost(problem, plan)
        states = tuple(sorted({s for c in plan.choices for s in (c.key.access_state, c.key.execute_state)},
                              key=lambda s: board.state(s).hz))
        latency = cost.latency_ms if cost else plan.predicted_latency_ms
        energy = cost.energy_uj if cost else plan.predicted_energy_uj
        back_us, _ = problem.transition(plan.choices[-1].last_state, plan.initial_state)
        meets = (latency <= budget * (1 + 1e-9) and math.isfinite(energy)
                 and latency + back_us / 1000 <= plan.period_ms * (1 + 1e-9))
        return PolicyResult(name, board.name, policy, budget, plan.period_ms, True, "",
                            plan.predicted_latency_ms, plan.predicted_energy_uj, latency, energy, meets,
                            plan.idle_mode, plan.initial_state, states, cost.switches if cost else None,
                            plan.optimal, plan.solver, lower_bound_uj=bound, gap_to_bound=_gap(energy, bound),
                            plan=plan, spans=cost.spans if cost else ())


def _with_savings(level_rows: Sequence[PolicyResult]) -> list[PolicyResult]:
    """One level's rows with their savings against (a), (b) and DAE at the fastest state, and
    (e)'s saving against (b) split into the kernel and the DVFS effect."""
    by = {r.policy: r for r in level_rows}
    a, b, race = (by[p].energy_uj for p in ("tinyengine", "tinyengine_sleep", "dae_race"))
    out = []
    for r in level_rows:
        if not r.feasible:
            out.append(r)
            continue
        r = replace(r, saving_vs_tinyengine=_saving(r.energy_uj, a), saving_vs_tinyengine_sleep=_saving(r.energy_uj, b),
                    saving_vs_dae_race=_saving(r.energy_uj, race))
        if r.policy == "dae_dvfs" and r.saving_vs_tinyengine_sleep is not None and race is not None:
            kernel = _saving(race, b)
            r = replace(r, kernel_effect=kernel, dvfs_effect=r.saving_vs_tinyengine_sleep - kernel)
        out.append(r)
    return out


@dataclass(frozen=True)
class Summary:
    """(e)'s savings for one model on one board over the QoS levels evaluated (%, emulated): best
    and mean against (b) and (a) over the levels each meets, and the mean of the two effects
    (against (b)) that make up the saving."""

    board: str
    model: str
    levels_vs_tinyengine_sleep: int  # the levels where (b) meets the budget too
    max_vs_tinyengine_sleep: float | None
    mean_vs_tinyengine_sleep: float | None
    max_vs_tinyengine: float | None
    mean_vs_tinyengine: float | None
    mean_kernel_effect: float | None
    mean_dvfs_effect: float | None


def _mean(values):
    return sum(values) / len(values) if values else None


def summaries(rows: Sequence[PolicyResult]) -> list[Summary]:
    """One :class:`Summary` per (board, model) in ``rows``, in their order."""
    out = []
    for board, model in dict.fromkeys((r.board, r.model) for r in rows):
        mine = [r for r in rows if (r.board, r.model) == (board, model) and r.policy == "dae_dvfs"]
        vs_b = [r.saving_vs_tinyengine_sleep for r in mine if r.saving_vs_tinyengine_sleep is not None]
        vs_a = [r.saving_vs_tinyengine for r in mine if r.saving_vs_tinyengine is not None]
        split = [r for r in mine if r.kernel_effect is not None]
        out.append(Summary(board, model, len(vs_b), max(vs_b, default=None), _mean(vs_b), max(vs_a, default=None),
                           _mean(vs_a), _mean([r.kernel_effect for r in split]),
                           _mean([r.dvfs_effect for r in split])))
    return out


# ----------------------------------------------------------------------------- sensitivity
PERTURBATIONS = {
    "model as is": {},
    "flash wait-state penalty +20%": {"flash": 1.2},
    "flash wait-state penalty -20%": {"flash": 0.8},
    "run power +20%": {"run": 1.2},
    "run power -20%": {"run": 0.8},
    "sleep/stop power +20%": {"idle": 1.2},
    "sleep/stop power -20%": {"idle": 0.8},
}


def perturbed_problem(profile: Profile, board: Board, budget_ms: float, flash: float = 1.0, run: float = 1.0,
                      idle: float = 1.0) -> PlanProblem:
    """The plan problem with the cycle model's flash stall cycles scaled by ``flash``, every
    energy spent running (phases, switches, busy-waiting, wake-ups) by ``run`` and the Sleep and
    Stop power by ``idle``."""
    from ..sim.cycles import load_cycle_model

    if flash != 1.0:
        model = load_cycle_model(board.core)
        rows = []
        for r in profile.rows:
            stall = r.flash_reads * (1.0 - model.flash_data_hit_rate) * (board.state(r.state).wait_states + 1)
            scale = (r.cycles + (flash - 1.0) * stall) / r.cycles if r.cycles else 1.0
            rows.append(replace(r, cycles=r.cycles * scale, time_us=r.time_us * scale, energy_uj=r.energy_uj * scale))
        profile = replace(profile, rows=tuple(rows))
    problem = plan_problem(profile, board, budget_ms)
    if run == 1.0 and idle == 1.0:
        return problem
    layers = tuple(tuple(replace(c, energy_uj=c.energy_uj * run) for c in cands) for cands in problem.layers)
    transitions = {k: (t, e * run) for k, (t, e) in problem.transitions.items()}
    modes = tuple(replace(m, power_mw=m.power_mw * idle, wakeup_energy_uj=m.wakeup_energy_uj * run)
                  for m in problem.idle_modes)
    busy = {s: p * run for s, p in problem.busy_power_mw.items()}
    return replace(problem, layers=layers, transitions=transitions, idle_modes=modes, busy_power_mw=busy)


@dataclass(frozen=True)
class SensitivityRow:
    perturbation: str
    budget_ms: float
    dae_dvfs_uj: float | None
    tinyengine_uj: float | None
    tinyengine_sleep_uj: float | None
    saving_vs_tinyengine: float | None
    saving_vs_tinyengine_sleep: float | None


def sensitivity(profile: Profile, board: Board, budgets_ms: Sequence[float], method: str = DEFAULT_METHOD,
                time_limit_s: float = 2.0) -> list[SensitivityRow]:
    """(e)'s predicted saving over (a) and (b) at every budget under each of
    :data:`PERTURBATIONS` (plans re-solved under the perturbed model; predictions, not
    emulated: the counts do not change, only the coefficients that price them)."""
    rows = []
    for name, factors in PERTURBATIONS.items():
        for budget in budgets_ms:
            plans = policy_plans(perturbed_problem(profile, board, budget, **factors), board, method, time_limit_s)
            energy = {p: plans[p].predicted_energy_uj if plans[p] else None
                      for p in ("dae_dvfs", "tinyengine", "tinyengine_sleep")}
            rows.append(SensitivityRow(name, budget, energy["dae_dvfs"], energy["tinyengine"],
                                       energy["tinyengine_sleep"], _saving(energy["dae_dvfs"], energy["tinyengine"]),
                                       _saving(energy["dae_dvfs"], energy["tinyengine_sleep"])))
    return rows


# ----------------------------------------------------------------------------- files
def write_json(rows: Sequence[PolicyResult], path) -> None:
    import json

    write_text_atomically(path, json.dumps([r.record() for r in rows], indent=1))


def write_csv(rows: Sequence[PolicyResult], path) -> None:
    import csv
    import io

    buffer = io.StringIO()
    fields = list(PolicyResult.__dataclass_fields__)
    fields = [f for f in fields if f not in ("plan", "spans")]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow(r.record())
    write_text_atomically(path, buffer.getvalue())


