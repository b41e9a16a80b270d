"""The per-iteration steps of the objectives beyond plain pcd/cd/jem: sliced score matching, VERA
(the energy step, then eta's and the generator's), semi-supervised jem/vera, and the negative
chains' draw they share with pcd/jem. Mixed into `trainer.Trainer`, whose attributes (model,
settings `s`, chains, generators, data, `_apply`) they use.

In: a model-space data batch (and its observed-label masks). Out: the iteration's metrics (the
loss and its parts), or None after a rollback, as `Trainer.step` returns them.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.data.encoding import encode
from ebmspec.runtime.model.enumeration import label_entropy, label_log_likelihood, marginal_energy
from ebmspec.runtime.training import distributed
from ebmspec.runtime.training.negatives import impute, jem_loss
from ebmspec.runtime.training.sampling_free import ssm_loss, vera_energy_loss


class ObjectiveSteps:
    """`Trainer` methods: one iteration of ssm, vera or semi-supervised training."""

    def _share_batches(self, positive: dict, observed: dict, impute_labels: bool):
        """This process's rows of the batch and its shares' negatives: (positive, observed
        masks, negatives, label-keeping negatives of `both` or None, acceptance per block
        averaged over the shares). With `impute_labels` (pcd, cd) each share fills its rows'
        missing labels with its own generator (paper 004, Eq. 8)."""
        s = self.s
        per = s.batch // self.ranks.total
        mine = distributed.share_slice(s.batch, self.ranks)
        positive = {name: value[mine] for name, value in positive.items()}
        observed = {name: value[mine] for name, value in observed.items()}
        parts = []
        for j, share in enumerate(self.shares):
            negative, kept, rates = share.draw(self.model, per, self.stats, self.device)
            rows = slice(j * per, (j + 1) * per)
            rows_positive = {name: value[rows] for name, value in positive.items()}
            if impute_labels:
                rows_positive = impute(
                    self.model, self.sampler, self.table, rows_positive,
                    {name: value[rows] for name, value in observed.items()}, s.steps,
                    share.chain_gen, self.stats,
                )  # fmt: skip
            parts.append((rows_positive, negative, kept, rates))
        if len(parts) == 1:
            return parts[0][0], observed, *parts[0][1:]

        def joined(dicts: list) -> dict:
            return {name: torch.cat([d[name] for d in dicts]) for name in dicts[0]}

        positives, negatives, kepts, rates = zip(*parts, strict=True)
        kept = None if kepts[0] is None else joined(kepts)
        rates = [torch.stack(block).mean(0) for block in zip(*rates, strict=True)]
        return joined(positives), observed, joined(negatives), kept, rates

    def _ssm_step(self, positive: dict, observed: dict):
        """The ssm loss and its parts (missing labels imputed first, as for pcd)."""
        s = self.s
        positive = impute(
            self.model, self.sampler, self.table, positive, observed, s.steps, self.chain_gen,
            self.stats,
        )  # fmt: skip
        loss, f_pos, norm, trace = ssm_loss(
            self.model, positive, self.table, self.chain_gen, s.projections, s.ssm_noise,
            s.alpha, s.labels, observed, s.energy_l2, s.grad_penalty,
        )  # fmt: skip
        return loss, {"f_data": f_pos, "score_norm": norm, "score_trace": trace}

    def _semi_supervised_step(self, positive: dict) -> dict | None:
        """jem or vera with most labels hidden: the batch's labels all count as missing (so it
        feeds the generative term only), and a batch of labelled rows feeds alpha * CE;
        `label_entropy` adds beta * mean H(p(y | x)) on the batch."""
        s = self.s
        hidden = {n: torch.zeros(positive[n].shape[:1] + self.table[n].shape, dtype=torch.bool,
                                 device=self.device) for n in s.labels}  # fmt: skip
        size = min(s.batch, len(self.labelled))
        pick = self.labelled[torch.randperm(len(self.labelled), generator=self.data_gen)[:size]]
        raw = {name: values[pick] for name, values in self.dataset.train.items()}
        labelled, _ = encode(self.table, raw, self.pipelines, self.data_gen, self.device)

        def extra(loss: torch.Tensor) -> torch.Tensor:
            log_py = label_log_likelihood(self.model, labelled, self.table, s.labels, {})
            loss = loss + s.alpha * (-log_py.mean())
            if s.label_entropy > 0:
                entropy = label_entropy(self.model, positive, self.table, s.labels)
                loss = loss + s.label_entropy * entropy.mean()
            return loss

        if s.objective == "vera":
            return self._vera_step(positive, hidden, extra)
        negative, kept, rates = self.shares[0].draw(self.model, s.batch, self.stats, self.device)
        loss, f_pos, f_neg = jem_loss(
            self.model, positive, negative, self.table, s.labels, 0.0, hidden, s.energy_l2,
            s.generative, kept, s.grad_penalty,
        )  # fmt: skip
        return self._apply((extra(loss), {"f_data": f_pos, "f_samples": f_neg}), rates)

    def _vera_step(self, positive: dict, observed: dict, extra=None) -> dict | None:
        """The energy step against the generator's samples (plus `extra` terms), then eta's and
        the generator's. F marginalises the labels, so missing ones need no imputation."""
        s = self.s
        x_g, z0 = self.vera.draw(s.batch, self.chain_gen)
        negative = self.vera.values(x_g.detach())
        loss, f_pos, f_neg = vera_energy_loss(
            self.model, positive, negative, self.table, s.alpha, s.labels, observed,
            s.energy_l2, s.grad_penalty,
        )  # fmt: skip
        loss = loss if extra is None else extra(loss)
        metrics = self._apply((loss, {"f_data": f_pos, "f_samples": f_neg}), [])
        if metrics is None:
            return None
        self.vera.posterior_step(x_g, z0, self.chain_gen)
        hidden = tuple(n for n, v in self.table.items() if v.kind != "real")

        def energy_of(values: dict) -> torch.Tensor:
            return marginal_energy(self.model, values, self.table, hidden)

        metrics.update(self.vera.generator_step(energy_of, x_g, z0, self.chain_gen))
        return metrics
