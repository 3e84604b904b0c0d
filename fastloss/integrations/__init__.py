"""Integrations with other libraries, each imported on its own (none is imported here).

* :mod:`fastloss.integrations.xgboost` -- ``objective(loss, **params)`` for XGBoost.
* :mod:`fastloss.integrations.lightgbm` -- ``objective(loss, **params)`` for LightGBM.
* :mod:`fastloss.integrations.dask` -- what a pointwise loss does with Dask arrays (used
  automatically when a loss is given Dask arrays).
* :mod:`fastloss.integrations.sklearn` -- ``make_scorer(loss, **params)``.
"""
