"""What every family's state and step are made of, and where arrays live.

``state`` (the train state, EMA-or-raw parameters, the step's RNG), ``optim``
(optimisers, schedules, EMA from config), ``step`` (the generic
single-objective train step) and ``sharding`` (the device mesh, batch and
replicated shardings). Families, the trainer and evaluation all use these;
``genjax.core`` imports nothing of genjax but ``errors``.
"""
