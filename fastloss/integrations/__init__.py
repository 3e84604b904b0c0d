"""Integrations with other libraries, each imported on its own (none is imported here).

* :mod:`fastloss.integrations.xgboost` -- ``objective(loss, **params)`` for XGBoost.
* :mod:`fastloss.integrations.lightgbm` -- ``objective(loss, **params)`` for LightGBM.
* :mod:`fastloss.integrations.dask` -- what a pointwise loss does with Dask arrays (used
  automatically when a loss is given Dask arrays).
* :mod:`fastloss.integrations.sklearn` -- ``make_scorer(loss, **params)``.
"""


def require(module: str, extra: str, *, load: bool = True):
    """``module`` (imported when ``load``), or an ImportError that says which extra of
    fastloss installs it."""
    import importlib
    import importlib.util

    hint = (f"this fastloss integration needs {module}, which is not installed: "
            f"pip install 'fastloss[{extra}]'")
    if not load:
        if importlib.util.find_spec(module) is None:
            raise ImportError(hint, name=module)
        return None
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(hint, name=module) from exc
