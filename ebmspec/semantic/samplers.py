"""Sampler blocks: `init VARS ~ DIST`, `update VARS with KERNEL [repeat n]`, `sweeps = n`.

In: `ast.SamplerBlock`s and the declared variables. Out: `ir.Sampler`s whose kernels and init
distributions fit every variable's domain (E402), whose blocks do not mix continuous and discrete
variables (E403; `jump` needs both kinds, E408) and whose inits are well-founded (E405-E407).
Mixed into `checker.Checker`.
"""

from __future__ import annotations

import math

from ebmspec import energy_facts, ir
from ebmspec.frontend import ast
from ebmspec.semantic import registry as reg
from ebmspec.semantic.values import (
    INVALID,
    as_func,
    bind_args,
    check_value,
    make_call,
    resolve,
    suggest,
)
from ebmspec.source import Span


class SamplerChecks:
    """`Checker` methods for sampler blocks (`self.sink`, `self.scope`, `self._positive`)."""

    def _names(self, names: ast.NameList, context: str) -> tuple[str, ...] | None:
        ok, seen = True, []
        for ident in names.names:
            if ident.text in self.scope.broken:
                ok = False  # its declaration is already reported
            elif ident.text not in self.scope.variables:
                self.sink.error(
                    "E101",
                    f"unknown variable `{ident.text}` in {context}"
                    f"{suggest(ident.text, self.scope.variables)}",
                    ident.span,
                    f"declared variables: {', '.join(self.scope.variables)}",
                )
                ok = False
            elif ident.text in seen:
                self.sink.error(
                    "E106",
                    f"variable `{ident.text}` is listed twice",
                    ident.span,
                    "list each variable once",
                )
                ok = False
            seen.append(ident.text)
        return tuple(seen) if ok else None

    def _check_domains(self, signature: reg.Signature, names, spans, what: str, help: str) -> bool:
        ok = True
        for name, span in zip(names, spans, strict=True):
            variable = self.scope.variables[name]
            if variable.kind not in signature.domains:
                noun = "continuous" if variable.kind == "real" else variable.kind
                self.sink.error(
                    "E402",
                    f"{signature.name} cannot {what} {noun} variable "
                    f"`{name}` ({variable.describe()})",
                    span,
                    help,
                )
                ok = False
        return ok

    def _sampler(self, block: ast.SamplerBlock, data: ir.Dataset | None) -> ir.Sampler | None:
        inits: list[ir.Init] = []
        blocks: list[ir.Block] = []
        sweeps = 1
        temperatures: tuple[float, ...] = ()
        initialised: dict[str, Span] = {}
        for stmt in block.stmts:
            if isinstance(stmt, ast.Setting):
                param = reg.SAMPLER_SETTINGS.get(stmt.name.text)
                if param is None:
                    self.sink.error(
                        "E104",
                        f"unknown sampler setting `{stmt.name.text}`"
                        f"{suggest(stmt.name.text, reg.SAMPLER_SETTINGS)}",
                        stmt.name.span,
                        "sampler settings: sweeps, temperatures",
                    )
                    continue
                value = check_value(param.type, stmt.value, self.scope, f"`{param.name}`")
                if value is INVALID:
                    continue
                if param.name == "sweeps":
                    sweeps = value
                elif check_temperatures(self.sink, value, stmt.value.span):
                    temperatures = tuple(float(t) for t in value)
                continue
            names = self._names(stmt.names, f"sampler `{block.name.text}`")
            func = stmt.dist if isinstance(stmt, ast.InitStmt) else stmt.kernel
            table = reg.INIT_DISTS if isinstance(stmt, ast.InitStmt) else reg.KERNELS
            noun = "init distribution" if isinstance(stmt, ast.InitStmt) else "kernel"
            signature = resolve(self.sink, table, func, noun)
            if names is None or signature is None:
                continue
            bound = bind_args(signature, func.args, func.span, self.scope)
            spans = [i.span for i in stmt.names.names]
            if isinstance(stmt, ast.InitStmt):
                init = self._init(stmt, signature, names, spans, bound, data, initialised)
                if init is not None:
                    inits.append(init)
            else:
                repeats = 1
                if stmt.repeat is not None:
                    repeats = self._positive(stmt.repeat, "`repeat`") or 1
                kinds = {self.scope.variables[n].kind == "real" for n in names}
                help = _kernels_for("real" not in signature.domains)
                ok = self._check_domains(signature, names, spans, "update", help)
                if ok and signature.extra.get("mixed") and len(kinds) < 2:
                    self.sink.error(
                        "E408",
                        f"`{signature.name}` moves labels and position together: its block needs "
                        "at least one discrete and one continuous variable",
                        stmt.names.span,
                        f"update both with it, e.g. `update x, y with {signature.name}()`; for "
                        "one kind use gibbs, gwg (discrete) or mala, langevin (continuous)",
                    )
                    ok = False
                if ok and len(kinds) > 1 and not signature.extra.get("mixed"):
                    self.sink.error(
                        "E403",
                        "one block cannot mix continuous and discrete variables",
                        stmt.names.span,
                        "split it: update the discrete variables first, then the "
                        "continuous ones (paper 004, Algorithm 1); `jump` moves both together",
                    )
                    ok = False
                if ok and bound is not None:
                    ok = self._check_enumeration(signature, bound, names, func.span)
                if ok and signature.name == "block_gibbs":
                    ok = self._check_separable(names, func.span)
                if ok and bound is not None:
                    blocks.append(
                        ir.Block(
                            make_call(signature.name, bound, func.span),
                            names,
                            repeats,
                            False,
                            stmt.span,
                        )
                    )
        return ir.Sampler(
            block.name.text, tuple(inits), tuple(blocks), sweeps, block.span, temperatures
        )

    def _check_enumeration(self, signature: reg.Signature, bound: dict, names, span) -> bool:
        """E409 when the kernel lists every joint value of the block's discrete variables and
        there are more than `MAX_ENUMERABLE` of them: refused here, before anything allocates."""
        trait = signature.extra.get("enumerates")
        if trait is None or (trait != "always" and not bound.get(trait)):
            return True
        discrete = [self.scope.variables[n] for n in names if self.scope.variables[n].discrete]
        count = math.prod(v.cardinality for v in discrete)
        if count <= reg.MAX_ENUMERABLE:
            return True
        listed = ", ".join(f"`{v.name}`" for v in discrete)
        how = f"{signature.name}(joint = true)" if trait != "always" else signature.name
        if trait == "always":
            help = (
                f"`{signature.name}` needs labels with at most {reg.MAX_ENUMERABLE:,} joint "
                "values; update large discrete variables with gwg, dmala or per-site gibbs instead"
            )
        else:
            help = (
                f"use per-site `{signature.name}` (`{trait} = false`), gwg or dmala: each moves "
                f"one site or a few at a time; at most {reg.MAX_ENUMERABLE:,} joint values can be "
                "listed"
            )
        self.sink.error(
            "E409",
            f"`{how}` lists every joint value of {listed}: {count:,} values, more than the "
            f"limit of {reg.MAX_ENUMERABLE:,}",
            span,
            help,
        )
        return False

    def _check_separable(self, names, span) -> bool:
        """E410: `block_gibbs` redraws every site from the gradient, exact only when f is
        affine in the block's codes with no coupling between its sites
        (`energy_facts.separable`)."""
        if self.scope.energy is None or energy_facts.separable(self.scope.energy, names):
            return True
        listed = ", ".join(f"`{n}`" for n in names)
        self.sink.error(
            "E410",
            f"`block_gibbs` needs an energy affine in {listed}, with no term coupling two of "
            "their sites; this energy passes them through a nonlinearity or multiplies them "
            "together",
            span,
            "use per-site `gibbs`, `gwg` or `dmala`; or write the terms that read them as "
            "`bilinear`, `linear`, `dot` or `scores[k]` with the other factor free of them",
        )
        return False

    def check_init_setting(self, expr: ast.Expr, name: str, data) -> ir.Call | None:
        """A profile's or `--set`'s `sampler.S.init.NAME = DIST(...)`, checked exactly as
        `init NAME ~ DIST(...)` in the sampler block."""
        func = as_func(expr)
        if func is None:
            self.sink.error(
                "E201",
                f"the init distribution of `{name}` must be a name or a call such as "
                "`normal_data` or `normal(std = 2)`",
                expr.span,
                f"init distributions: {', '.join(reg.INIT_DISTS)}",
            )
            return None
        signature = resolve(self.sink, reg.INIT_DISTS, func, "init distribution")
        if signature is None:
            return None
        bound = bind_args(signature, func.args, func.span, self.scope)
        stmt = ast.InitStmt(expr.span, ast.NameList(expr.span, ()), func)
        init = self._init(stmt, signature, (name,), [expr.span], bound, data, {})
        return None if init is None else init.dist

    def _init(self, stmt, signature, names, spans, bound, data, initialised) -> ir.Init | None:
        help = (
            "use uniform_data_range, normal or normal_data for real variables"
            if "real" not in signature.domains
            else "use uniform or data_frequency for discrete variables"
        )
        ok = self._check_domains(signature, names, spans, "initialise", help)
        for name, span in zip(names, spans, strict=True):
            variable = self.scope.variables[name]
            if name in initialised:
                self.sink.error(
                    "E406",
                    f"`{name}` already has an init distribution (line {initialised[name].line})",
                    span,
                    "keep one `init` per variable",
                )
                ok = False
            initialised[name] = span
            no_data = data is None and not self.scope.broken_data
            if signature.extra.get("needs_data") and (not variable.observed or no_data):
                reason = "is latent" if not variable.observed else "has no data (no `data` line)"
                self.sink.error(
                    "E405",
                    f"{signature.name} reads a data batch but `{name}` {reason}",
                    span,
                    "use `uniform` (bounded) or `normal` instead",
                )
                ok = False
            if signature.name == "uniform" and variable.kind == "real" and variable.low is None:
                self.sink.error(
                    "E407",
                    f"`uniform` needs bounds, and `{name}` is unbounded",
                    span,
                    f"declare `{name} : {variable.describe()} in [a, b]` or use "
                    "uniform_data_range / normal",
                )
                ok = False
        if not ok or bound is None:
            return None
        return ir.Init(names, make_call(signature.name, bound, stmt.dist.span), False, stmt.span)


def _kernels_for(real: bool) -> str:
    """The help for a kernel given the wrong kind of variable: the kernels of the registry that
    take the other kind on its own (`jump` needs both kinds), so a new kernel is listed too."""
    kind = "real" if real else "discrete"
    domains = reg.CONTINUOUS if real else reg.DISCRETE
    names = [
        n
        for n, k in reg.KERNELS.items()
        if set(domains) <= set(k.domains) and not k.extra.get("mixed")
    ]
    return f"use {', '.join(names[:-1])} or {names[-1]} for {kind} variables"


def check_temperatures(sink, values, span) -> bool:
    """E411: parallel tempering's inverse temperatures start at 1 (the chains that sample p),
    decrease strictly and stay positive, and there are at least two."""
    values = [float(v) for v in values]
    problem = None
    if len(values) < 2:
        problem = "needs at least two inverse temperatures"
    elif values[0] != 1.0:
        problem = f"must start at 1 (the chains that sample the model), not {values[0]:g}"
    elif any(b >= a for a, b in zip(values, values[1:], strict=False)):
        problem = "must decrease strictly"
    elif values[-1] <= 0:
        problem = "must stay above 0 (b = 0 would make the hottest replica improper)"
    if problem is None:
        return True
    sink.error(
        "E411",
        f"`temperatures` {problem}",
        span,
        "write inverse temperatures from 1 down, e.g. `temperatures = [1, 0.6, 0.35, 0.2]`",
    )
    return False
