"""How other libraries spell each loss: the data behind the conventions tables.

This is knowledge about *other* libraries, so it cannot come from the registry; the rows of
the tables still do (a registered loss without an entry here shows ``--``, and its own
``matches`` text in the PyTorch column when that names PyTorch). Cells are reST.
"same" means the same value per element and the same reduction; differences are spelt out.
"""

COLUMNS = {
    "torch": "PyTorch",
    "sklearn": "scikit-learn",
    "optax": "optax (per element, no reduction)",
    "keras": "Keras",
    "xgboost": "XGBoost built-in objective",
    "lightgbm": "LightGBM built-in objective",
    "fastloss_gh": "fastloss ``grad_hess`` (``reduction='sum'``)",
}

CONVENTIONS = {
    # ---- regression -------------------------------------------------------------------
    "mse": {
        "torch": "``F.mse_loss``: same",
        "sklearn": "``mean_squared_error``: same",
        "optax": "``squared_error``: same; ``l2_loss`` is **half** of it",
        "keras": "``MeanSquaredError``: same",
        "xgboost": "``reg:squarederror``: loss :math:`\\tfrac12 d^2`, grad :math:`d`, hess 1",
        "lightgbm": "``regression``: grad :math:`d`, hess 1",
        "fastloss_gh": "grad :math:`2d`, hess 2 (twice theirs: :math:`d^2` has no "
                       ":math:`\\tfrac12`)",
    },
    "rmse": {
        "torch": "none (``sqrt`` of ``F.mse_loss``)",
        "sklearn": "``root_mean_squared_error``: same",
        "optax": "none",
        "keras": "``metrics.RootMeanSquaredError`` (a metric)",
    },
    "mae": {
        "torch": "``F.l1_loss``: same",
        "sklearn": "``mean_absolute_error``: same",
        "optax": "none (``abs`` of the difference)",
        "keras": "``MeanAbsoluteError``: same",
        "xgboost": "``reg:absoluteerror``: grad :math:`\\operatorname{sign} d`, constant "
                   "hess, leaf values refitted",
        "lightgbm": "``regression_l1``: grad :math:`\\operatorname{sign} d`, constant hess, "
                    "leaf values refitted (median)",
        "fastloss_gh": "grad :math:`\\operatorname{sign} d`, hess 0 (the true second "
                       "derivative)",
    },
    "huber": {
        "torch": "``F.huber_loss(delta)``: same",
        "sklearn": "no loss function (``HuberRegressor`` scales residuals by a fitted "
                   ":math:`\\sigma`)",
        "optax": "``huber_loss(delta=)``: same",
        "keras": "``Huber(delta)``: same",
        "xgboost": "``reg:pseudohubererror`` is the *pseudo*-Huber loss "
                   ":math:`\\delta^2(\\sqrt{1 + (d/\\delta)^2} - 1)`: another function",
        "lightgbm": "``huber`` (its :math:`\\delta` is ``alpha``): same grad, hess 1 "
                    "everywhere",
        "fastloss_gh": "grad :math:`\\operatorname{clip}(d, -\\delta, \\delta)`, hess "
                       ":math:`\\mathbb{1}[|d| \\le \\delta]` (0 in the linear zone)",
    },
    "smooth_l1": {
        "torch": "``F.smooth_l1_loss(beta)``: same (``huber`` divided by :math:`\\beta`)",
        "sklearn": "none",
        "optax": "none (``huber_loss`` / :math:`\\beta`)",
        "keras": "none (``Huber`` / :math:`\\beta`)",
    },
    "log_cosh": {
        "torch": "none",
        "sklearn": "none",
        "optax": "``log_cosh``: same",
        "keras": "``LogCosh`` / ``log_cosh``: same",
    },
    "quantile": {
        "torch": "none",
        "sklearn": "``mean_pinball_loss(alpha=quantile)``: same",
        "optax": "none",
        "keras": "none",
        "xgboost": "``reg:quantileerror`` (``quantile_alpha``): constant hess, leaf values "
                   "refitted",
        "lightgbm": "``quantile`` (``alpha``): same grad, constant hess, leaf values refitted",
        "fastloss_gh": "grad :math:`-q` or :math:`1-q`, hess 0",
    },
    "poisson_nll": {
        "torch": "``F.poisson_nll_loss(log_input, full, eps)``: same",
        "sklearn": "``mean_poisson_deviance``: :math:`2(y \\log(y/\\mu) - y + \\mu)`, on the "
                   "rate, twice the loss plus terms constant in the prediction",
        "optax": "none",
        "keras": "``Poisson``: :math:`\\mu - y \\log(\\mu + 10^{-7})` on the rate, like "
                 "``log_input=False``",
        "xgboost": "``count:poisson``: grad :math:`e^{p} - y`, hess :math:`e^{p + s}` with "
                   ":math:`s` = ``max_delta_step`` (0.7 by default)",
        "lightgbm": "``poisson``: grad :math:`e^{p} - y`, hess :math:`e^{p + s}` with "
                    ":math:`s` = ``poisson_max_delta_step`` (0.7 by default)",
        "fastloss_gh": "grad :math:`e^{p} - y`, hess :math:`e^{p}` (``log_input=True``)",
    },
    "tweedie": {
        "torch": "none",
        "sklearn": "``HalfTweedieLoss(power)`` on raw predictions: same up to terms constant "
                   "in the prediction; ``mean_tweedie_deviance``: twice, on the mean",
        "optax": "none",
        "keras": "none",
        "xgboost": "``reg:tweedie`` (``tweedie_variance_power``): same grad and hess",
        "lightgbm": "``tweedie`` (``tweedie_variance_power``): same grad and hess",
        "fastloss_gh": "grad :math:`e^{(2-\\rho)p} - y e^{(1-\\rho)p}`, hess its derivative",
    },
    # ---- classification ---------------------------------------------------------------
    "binary_cross_entropy": {
        "torch": "``F.binary_cross_entropy``: same (logs clamped at -100)",
        "sklearn": "``log_loss`` on 1-D probabilities clips at the dtype's eps instead",
        "optax": "none on probabilities",
        "keras": "``BinaryCrossentropy``: clips probabilities to "
                 ":math:`[10^{-7}, 1 - 10^{-7}]`",
    },
    "binary_cross_entropy_with_logits": {
        "torch": "``F.binary_cross_entropy_with_logits(pos_weight=)``: same",
        "sklearn": "``log_loss(y, expit(z))``",
        "optax": "``sigmoid_binary_cross_entropy(logits, labels)``: same, arguments swapped",
        "keras": "``BinaryCrossentropy(from_logits=True)``",
        "xgboost": "``binary:logistic``: grad :math:`\\sigma(z) - y`, hess "
                   ":math:`\\max(\\sigma(1-\\sigma), 10^{-16})`",
        "lightgbm": "``binary``: grad :math:`\\sigma(z) - y`, hess :math:`\\sigma(1-\\sigma)`",
        "fastloss_gh": "grad :math:`\\sigma(z) - y`, hess :math:`\\sigma(1-\\sigma)`: the "
                       "same",
    },
    "log_loss": {
        "torch": "none (``F.nll_loss`` of ``log p``)",
        "sklearn": "``log_loss``: same (clipped at the dtype's eps)",
        "optax": "none",
        "keras": "``CategoricalCrossentropy`` on probabilities clips at :math:`10^{-7}`",
    },
    "cross_entropy": {
        "torch": "``F.cross_entropy(weight, ignore_index, label_smoothing)``: same",
        "sklearn": "``log_loss(y, softmax(z))``",
        "optax": "``softmax_cross_entropy_with_integer_labels(logits, labels)`` (integer "
                 "labels), ``softmax_cross_entropy`` (probabilities): per row",
        "keras": "``SparseCategoricalCrossentropy(from_logits=True)``, "
                 "``CategoricalCrossentropy(from_logits=True)``",
        "xgboost": "``multi:softprob``: grad :math:`p - y`, hess :math:`2p(1-p)`",
        "lightgbm": "``multiclass``: grad :math:`p - y`, hess "
                    ":math:`\\tfrac{K}{K-1}\\,p(1-p)`",
        "fastloss_gh": "grad :math:`p - y`, hess :math:`p(1-p)` (the exact diagonal)",
    },
    "focal": {
        "torch": "``torchvision.ops.sigmoid_focal_loss(alpha, gamma)``: same (its default "
                 "reduction is ``'none'``)",
        "sklearn": "none",
        "optax": "``sigmoid_focal_loss(logits, labels, alpha=None, gamma=2.0)``: no "
                 ":math:`\\alpha` weighting by default",
        "keras": "``BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True)``",
    },
    "hinge": {
        "torch": "none (``HingeEmbeddingLoss`` is another loss)",
        "sklearn": "``hinge_loss`` (binary): same",
        "optax": "``hinge_loss(predictor_outputs, targets)``, targets in :math:`\\{-1, 1\\}`",
        "keras": "``Hinge``: same (labels in :math:`\\{0, 1\\}` mapped to "
                 ":math:`\\{-1, 1\\}`)",
    },
    "squared_hinge": {
        "torch": "none",
        "sklearn": "none (the loss of ``LinearSVC`` and ``SGDClassifier(loss='squared_hinge')``)",
        "optax": "none",
        "keras": "``SquaredHinge``: same",
    },
    "kl_divergence": {
        "torch": "``F.kl_div(log q, p, reduction='batchmean')``: same; note ``kl_div`` takes "
                 "log-probabilities, and its ``'mean'`` divides by the number of elements",
        "sklearn": "none (``scipy.stats.entropy(p, q)`` per row)",
        "optax": "``kl_divergence(log_predictions, targets)``: per row",
        "keras": "``KLDivergence``: clips both to :math:`[10^{-7}, 1]`",
    },
    # ---- adversarial ------------------------------------------------------------------
    "gan_discriminator": {
        "torch": "``standard`` is ``F.binary_cross_entropy_with_logits`` with labels 1 "
                 "(real) and 0 (fake), the two means added",
        "sklearn": "none",
        "optax": "none",
        "keras": "none (``BinaryCrossentropy(from_logits=True)``, as in the DCGAN tutorial)",
    },
    "gan_generator": {
        "torch": "``non_saturating`` is ``F.binary_cross_entropy_with_logits`` of the fake "
                 "logits with labels 1",
        "sklearn": "none",
        "optax": "none",
        "keras": "none",
    },
    "adversarial_value": {
        "torch": "none", "sklearn": "none", "optax": "none", "keras": "none",
    },
    # ---- contrastive ------------------------------------------------------------------
    "info_nce": {
        "torch": "``F.cross_entropy`` of ``normalize(q) @ normalize(k).T / t`` against "
                 "``arange(N)``",
        "sklearn": "none",
        "optax": "none",
        "keras": "none",
    },
    "nt_xent": {
        "torch": "none",
        "sklearn": "none",
        "optax": "``ntxent(embeddings, labels, temperature=0.07)``: another interface "
                 "(positives given by labels)",
        "keras": "none",
    },
    "triplet_margin": {
        "torch": "``F.triplet_margin_loss(margin, p, eps, swap)``: same",
        "sklearn": "none",
        "optax": "``triplet_margin_loss`` (per triplet)",
        "keras": "none",
    },
    "cosine_embedding": {
        "torch": "``F.cosine_embedding_loss(margin)``: same",
        "sklearn": "none",
        "optax": "``cosine_distance`` is the :math:`y = 1` branch",
        "keras": "``CosineSimilarity`` is :math:`-\\cos`",
    },
    # ---- penalties --------------------------------------------------------------------
    "l1_penalty": {
        "torch": "none (``w.abs().sum()``)",
        "sklearn": "``Lasso(alpha)`` adds :math:`\\alpha \\|w\\|_1`",
        "optax": "none",
        "keras": "``regularizers.L1(l1)``: :math:`l_1 \\sum |w|`",
    },
    "l2_penalty": {
        "torch": "an optimizer's ``weight_decay=lam`` adds :math:`\\lambda w` to the "
                 "gradient: :math:`\\lambda` times this penalty",
        "sklearn": "``Ridge(alpha)`` adds :math:`\\alpha \\|w\\|^2` (**no** "
                   ":math:`\\tfrac12`)",
        "optax": "``add_decayed_weights(lam)``: gradient :math:`\\lambda w`, as here",
        "keras": "``regularizers.L2(l2)``: :math:`l_2 \\sum w^2` (**no** :math:`\\tfrac12`)",
    },
    "elastic_net": {
        "torch": "none",
        "sklearn": "``ElasticNet(alpha=1, l1_ratio)``'s penalty: same",
        "optax": "none",
        "keras": "``regularizers.L1L2(l1, l2)``: :math:`l_1 \\sum |w| + l_2 \\sum w^2`",
    },
}
