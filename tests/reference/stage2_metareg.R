# Reference values for ipdmeta.metareg(), influence, small-study tests and trim-and-fill,
# computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/stage2_metareg.R
# It writes tests/reference/stage2_metareg.json, which tests/test_metareg.py and
# tests/test_influence_bias.py read; the input data of every data set are stored in the
# JSON, so the Python tests need no R.  Takes about a minute (the exact permutation
# tests refit the model thousands of times).
#
# Requires: metafor (written with 3.8.1), metadat, jsonlite (only to quote strings).
#
# Numbers are written with 17 significant digits (sprintf("%.17g")) so that every double
# round-trips exactly; NA is written as null.  Each model is given twice: "formula" in the
# formulaic syntax ipdmeta uses ("~ ablat + year + C(alloc)") and "mods" as given to rma().
#
# What is computed (see also the "notes" block of the JSON):
#   * fits: rma(yi, vi, mods =, method =, test =) for FE, DL, REML, ML, PM, PMM, EB, HE, SJ,
#     HS and test z, t, knha (ci = "hksj"), adhoc (ci = "hksj-trunc"): coefficients, se,
#     z/t, p, CI, tau2, Q-profile CI of tau2 (confint), I2, H2, R2, QM (+df, p), QE (+p);
#   * predict(): new moderator values and fitted values;
#   * permutest(exact = TRUE) on small data sets, where exact enumeration is feasible;
#   * influence() (rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat, weight, dfbs,
#     inf), baujat() coordinates, leave1out();
#   * regtest() (model "rma" and "lm", predictors sei and vi), ranktest(), trimfill() (L0,
#     R0, Q0, side chosen from the data and forced);
#   * rma(tau2 = fixed) for the sensitivity of the pooled result to tau2 (and to I2).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
ci_ctrl <- list(tol = 1e-12, maxiter = 1000, tau2.max = 1e4)
methods <- c("FE", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS")
tests <- c(z = "z", t = "t", hksj = "knha", `hksj-trunc` = "adhoc")

# ---------------------------------------------------------------- data sets
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
rau <- dat.raudenbush1985
bd <- dat.bangertdrowns2004
hs <- dat.hackshaw1998

data_sets <- list(
  bcg = data.frame(study = paste(bcg$author, bcg$year), yi = as.numeric(bcg$yi),
                   vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year,
                   alloc = as.character(bcg$alloc)),
  raudenbush1985 = data.frame(study = paste0(rau$study, ": ", rau$author, " ", rau$year),
                              yi = rau$yi, vi = rau$vi, weeks = rau$weeks,
                              setting = as.character(rau$setting),
                              tester = as.character(rau$tester)),
  bangertdrowns2004 = data.frame(study = paste0(bd$id, ": ", bd$author, " ", bd$year),
                                 yi = as.numeric(bd$yi), vi = as.numeric(bd$vi),
                                 length = bd$length, meta = bd$meta, grade = bd$grade,
                                 ni = bd$ni),
  hackshaw1998 = data.frame(study = paste0(hs$study, ": ", hs$author, " ", hs$year),
                            yi = hs$yi, vi = hs$vi)
)
descriptions <- list(
  bcg = "metadat::dat.bcg, escalc(measure='RR'): log risk ratios of 13 BCG trials",
  raudenbush1985 = "metadat::dat.raudenbush1985: 19 teacher-expectancy studies (SMD)",
  bangertdrowns2004 = paste("metadat::dat.bangertdrowns2004: 48 writing-to-learn studies",
                            "(SMD); length and meta have missing values"),
  hackshaw1998 = "metadat::dat.hackshaw1998: 37 studies of passive smoking (log OR)"
)

# models: ipdmeta formula -> rma mods formula
models <- list(
  list(data = "bcg", formula = "~ 1", mods = NULL),
  list(data = "bcg", formula = "~ ablat", mods = ~ ablat),
  list(data = "bcg", formula = "~ ablat + year + C(alloc)", mods = ~ ablat + year + factor(alloc)),
  list(data = "raudenbush1985", formula = "~ C(tester) + weeks", mods = ~ factor(tester) + weeks),
  list(data = "raudenbush1985", formula = "~ C(setting) * weeks", mods = ~ factor(setting) * weeks),
  list(data = "bangertdrowns2004", formula = "~ length + C(meta) + C(grade)",
       mods = ~ length + factor(meta) + factor(grade))
)

# ---------------------------------------------------------------- helpers
fit <- function(d, mods, method, test, level = 0.95, rows = NULL, ...) {
  if (!is.null(rows)) d <- d[rows, , drop = FALSE]
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, level = 100 * level,
               control = ctrl, data = d, slab = d$study, ...)
  if (!is.null(mods)) args$mods <- mods
  suppressWarnings(do.call(rma.uni, args))
}

tau2_ci <- function(r) {
  if (r$method == "FE") return(NULL)
  ci <- confint(r, type = "QP", control = ci_ctrl)
  if (ci$lb.sign != "" || ci$ub.sign != "") {
    if (!isTRUE(ci$ci.null)) stop("confint bound censored at the search limit")
  }
  unname(ci$random["tau^2", c("ci.lb", "ci.ub")])
}

fit_record <- function(m, method, ci, level = 0.95) {
  r <- fit(data_sets[[m$data]], m$mods, method, tests[[ci]], level)
  out <- list(
    data = m$data, formula = m$formula, mods = if (is.null(m$mods)) "~ 1" else deparse(m$mods),
    method = method, ci = ci, level = level, k = r$k, p = r$p,
    terms = rownames(r$beta), estimate = as.numeric(r$beta), se = r$se, z_or_t = r$zval,
    pvalue = r$pval, ci_low = r$ci.lb, ci_high = r$ci.ub,
    df = if (r$test == "z") NA else r$ddf,
    tau2 = r$tau2, tau2_ci = tau2_ci(r), I2 = r$I2, H2 = r$H2, R2 = r$R2,
    QM = r$QM, QM_df = r$QMdf, QM_pvalue = r$QMp, QE = r$QE, QE_df = r$k - r$p,
    QE_pvalue = r$QEp
  )
  out[!vapply(out, is.null, logical(1))]
}

# ---------------------------------------------------------------- fits
fits <- list()
for (m in models) {
  for (method in methods) {
    for (ci in names(tests)) fits[[length(fits) + 1]] <- fit_record(m, method, ci)
  }
}
for (m in models[c(3, 5)]) {
  for (method in c("DL", "REML")) {
    for (ci in c("z", "hksj")) fits[[length(fits) + 1]] <- fit_record(m, method, ci, 0.90)
  }
}

# ---------------------------------------------------------------- predict
pred_record <- function(m, method, ci, newdata, newmods) {
  r <- fit(data_sets[[m$data]], m$mods, method, tests[[ci]])
  pr <- if (is.null(newmods)) predict(r) else predict(r, newmods = unname(newmods))
  list(data = m$data, formula = m$formula, method = method, ci = ci,
       newdata = newdata, pred = pr$pred, se = pr$se, ci_low = pr$ci.lb, ci_high = pr$ci.ub,
       pi_low = if (is.null(pr$pi.lb)) NULL else pr$pi.lb,
       pi_high = if (is.null(pr$pi.ub)) NULL else pr$pi.ub)
}
nd_bcg <- data.frame(ablat = c(10, 30, 50), year = c(1950, 1970, 1980),
                     alloc = c("random", "systematic", "alternate"))
nm_bcg <- model.matrix(~ ablat + year + factor(alloc, levels = c("alternate", "random",
                                                                   "systematic")), nd_bcg)[, -1]
nd_rau <- data.frame(setting = c("group", "indiv", "indiv"), weeks = c(3, 10, 0))
nm_rau <- cbind(c(0, 1, 1), nd_rau$weeks, c(0, 1, 1) * nd_rau$weeks)
predictions <- list(
  pred_record(models[[3]], "REML", "hksj", nd_bcg, nm_bcg),
  pred_record(models[[3]], "REML", "z", nd_bcg, nm_bcg),
  pred_record(models[[3]], "DL", "t", nd_bcg, nm_bcg),
  pred_record(models[[5]], "REML", "hksj-trunc", nd_rau, nm_rau),
  pred_record(models[[5]], "PM", "z", nd_rau, nm_rau),
  pred_record(models[[2]], "REML", "z", NULL, NULL),
  pred_record(models[[2]], "FE", "z", NULL, NULL)
)

# ---------------------------------------------------------------- permutest (exact)
perm_record <- function(m, method, ci, rows) {
  r <- fit(data_sets[[m$data]], m$mods, method, tests[[ci]], rows = rows)
  pt <- permutest(r, exact = TRUE, progbar = FALSE)
  list(data = m$data, formula = m$formula, method = method, ci = ci, rows = rows - 1,
       n_permutations = pt$exact.iter, terms = rownames(r$beta),
       estimate = as.numeric(r$beta), z_or_t = r$zval, QM = r$QM,
       pvalue = r$pval, pvalue_perm = pt$pval, QM_pvalue = r$QMp, QM_pvalue_perm = pt$QMp)
}
message("permutation tests ...")
alloc_model <- list(data = "bcg", formula = "~ C(alloc)", mods = ~ factor(alloc))
tester_model <- list(data = "raudenbush1985", formula = "~ C(tester)", mods = ~ factor(tester))
permutations <- list(
  perm_record(models[[2]], "REML", "hksj", 1:8),        # 8!/(2!2!) = 10080 (ties in ablat)
  perm_record(models[[2]], "DL", "z", 1:7),             # 7!/2! = 2520
  perm_record(models[[1]], "REML", "z", 1:10),          # 2^10 sign flips
  perm_record(models[[1]], "DL", "hksj", 1:9),          # 2^9 sign flips
  perm_record(alloc_model, "REML", "hksj", 1:10),       # 10!/(7!2!1!) = 360
  perm_record(tester_model, "REML", "hksj", 1:12),      # choose(12, 5) = 792
  perm_record(tester_model, "ML", "t", 1:12),
  perm_record(tester_model, "PM", "hksj-trunc", 1:12),
  perm_record(tester_model, "FE", "z", 1:12)
)

# ---------------------------------------------------------------- influence, baujat, leave1out
infl_record <- function(m, method, ci) {
  r <- fit(data_sets[[m$data]], m$mods, method, tests[[ci]])
  inf <- influence(r)
  pdf(NULL)
  bj <- baujat(r)
  dev.off()
  dfbs <- unclass(inf$dfbs)[seq_len(r$p)]  # columns (list.rma's "[" would select rows)
  list(data = m$data, formula = m$formula, method = method, ci = ci, terms = rownames(r$beta),
       rstudent = inf$inf$rstudent, dffits = inf$inf$dffits, cook_d = inf$inf$cook.d,
       cov_r = inf$inf$cov.r, tau2_del = inf$inf$tau2.del, QE_del = inf$inf$QE.del,
       hat = inf$inf$hat, weight = inf$inf$weight, influential = inf$is.infl,
       dfbetas = lapply(dfbs, as.numeric), baujat_x = bj$x, baujat_y = bj$y)
}
message("influence ...")
influence_cases <- list(
  infl_record(models[[2]], "REML", "z"),
  infl_record(models[[2]], "REML", "hksj"),
  infl_record(models[[3]], "ML", "t"),
  infl_record(models[[4]], "DL", "z"),
  infl_record(models[[1]], "REML", "z"),
  infl_record(models[[1]], "FE", "z"),
  infl_record(models[[1]], "PM", "hksj-trunc")
)

l1o_record <- function(dn, method, ci) {
  r <- fit(data_sets[[dn]], NULL, method, tests[[ci]])
  l <- leave1out(r)
  list(data = dn, method = method, ci = ci, estimate = l$estimate, se = l$se,
       ci_low = l$ci.lb, ci_high = l$ci.ub, pvalue = l$pval, tau2 = l$tau2, Q = l$Q,
       I2 = l$I2)
}
leave1out_cases <- list(l1o_record("bcg", "REML", "hksj"), l1o_record("hackshaw1998", "DL", "z"))

# ---------------------------------------------------------------- small-study effects
reg_record <- function(m, method, ci, model, predictor = "sei") {
  r <- fit(data_sets[[m$data]], m$mods, method, tests[[ci]])
  rt <- regtest(r, model = model, predictor = predictor)
  list(data = m$data, formula = m$formula, method = method, ci = ci, model = model,
       predictor = predictor, statistic = rt$zval, pvalue = rt$pval,
       df = rt$dfs,
       estimate = if (is.null(rt$est)) NA else unname(rt$est),
       ci_low = if (is.null(rt$ci.lb)) NA else unname(rt$ci.lb),
       ci_high = if (is.null(rt$ci.ub)) NA else unname(rt$ci.ub),
       coef = as.numeric(coef(rt$fit)))
}
rau1 <- list(data = "raudenbush1985", formula = "~ 1", mods = NULL)
hs1 <- list(data = "hackshaw1998", formula = "~ 1", mods = NULL)
bd1 <- list(data = "bangertdrowns2004", formula = "~ 1", mods = NULL)
regtests <- list(
  reg_record(models[[1]], "REML", "z", "rma"),
  reg_record(models[[1]], "REML", "z", "lm"),
  reg_record(models[[1]], "DL", "hksj", "rma"),
  reg_record(models[[1]], "FE", "z", "rma"),
  reg_record(models[[1]], "REML", "z", "rma", "vi"),
  reg_record(models[[1]], "REML", "z", "lm", "vi"),
  reg_record(models[[2]], "REML", "z", "rma"),
  reg_record(rau1, "REML", "z", "rma"),
  reg_record(rau1, "REML", "z", "lm"),
  reg_record(hs1, "REML", "hksj-trunc", "rma"),
  reg_record(bd1, "PM", "t", "rma")
)

rank_record <- function(dn) {
  d <- data_sets[[dn]]
  rk <- ranktest(d$yi, d$vi)
  list(data = dn, tau = unname(rk$tau), pvalue = rk$pval,
       ties = length(unique(d$vi)) < nrow(d))
}
ranktests <- lapply(c("bcg", "raudenbush1985", "hackshaw1998", "bangertdrowns2004"),
                    rank_record)

tf_record <- function(dn, method, ci, estimator, side = NULL) {
  r <- fit(data_sets[[dn]], NULL, method, tests[[ci]])
  args <- list(r, estimator = estimator, control = ctrl, test = tests[[ci]])
  if (!is.null(side)) args$side <- side
  tf <- do.call(trimfill, args)
  k <- r$k
  filled <- if (tf$k0 > 0) seq(k + 1, k + tf$k0) else integer(0)
  list(data = dn, method = method, ci = ci, estimator = estimator,
       side_given = if (is.null(side)) NA else side,
       k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, p_k0 = tf$p.k0,
       filled_yi = as.numeric(tf$yi)[filled], filled_vi = as.numeric(tf$vi)[filled],
       estimate = as.numeric(tf$beta), se = tf$se, ci_low = tf$ci.lb, ci_high = tf$ci.ub,
       z_or_t = tf$zval, pvalue = tf$pval, tau2 = tf$tau2, I2 = tf$I2, Q = tf$QE,
       Q_pvalue = tf$QEp, k = tf$k)
}
trimfills <- list()
for (dn in c("bcg", "raudenbush1985", "hackshaw1998", "bangertdrowns2004")) {
  for (est in c("L0", "R0")) trimfills[[length(trimfills) + 1]] <- tf_record(dn, "REML", "z", est)
}
trimfills <- c(trimfills, list(
  tf_record("hackshaw1998", "FE", "z", "L0"),
  tf_record("hackshaw1998", "DL", "hksj", "R0"),
  tf_record("hackshaw1998", "REML", "z", "Q0"),
  tf_record("bangertdrowns2004", "ML", "t", "Q0"),
  tf_record("bcg", "REML", "z", "L0", side = "left"),
  tf_record("raudenbush1985", "PM", "t", "L0", side = "right")
))

# ---------------------------------------------------------------- sensitivity to tau2 / I2
typical_v <- function(vi) {
  w <- 1 / vi
  (length(vi) - 1) / (sum(w) - sum(w^2) / sum(w))
}
sens_record <- function(dn, ci, tau2, I2 = NA) {
  d <- data_sets[[dn]]
  r <- suppressWarnings(rma.uni(d$yi, d$vi, tau2 = tau2, test = tests[[ci]], control = ctrl))
  pr <- predict(r)
  list(data = dn, ci = ci, tau2 = tau2, I2_given = I2, estimate = as.numeric(r$beta),
       se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub, z_or_t = r$zval, pvalue = r$pval,
       I2 = r$I2, H2 = r$H2, pi_low = pr$pi.lb, pi_high = pr$pi.ub)
}
sensitivity <- list()
for (ci in c("z", "hksj")) {
  for (t2 in c(0, 0.05, 0.2, 0.5)) sensitivity[[length(sensitivity) + 1]] <- sens_record("bcg", ci, t2)
  vt <- typical_v(data_sets$bcg$vi)
  for (i2 in c(25, 50, 75)) {
    sensitivity[[length(sensitivity) + 1]] <- sens_record("bcg", ci, i2 / (100 - i2) * vt, i2)
  }
}

# ---------------------------------------------------------------- JSON
notes <- list(
  generated_by = "tests/reference/stage2_metareg.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  rma_control = "threshold = 1e-12, tol = 1e-12, maxiter = 1000",
  ci_map = "ci z -> test='z'; t -> test='t'; hksj -> test='knha'; hksj-trunc -> test='adhoc'",
  rows = "permutation tests use the rows listed (0-based) of the data set",
  permutest = paste("permutest(exact = TRUE): every distinct arrangement of the rows of X",
                    "(or every sign flip for intercept-only models); p = share of",
                    "arrangements with |z| >= |z_obs| - sqrt(.Machine$double.eps)"),
  missing = "bangertdrowns2004: rows with a missing moderator are dropped (k = 46)",
  trimfill = "trimfill(res, estimator, control = ctrl, test = test); filled_* are the added studies",
  sensitivity = paste("rma(yi, vi, tau2 = fixed); I2 rows: tau2 = I2/(100 - I2) * vt,",
                      "vt = (k - 1)/(sum w - sum w^2/sum w), w = 1/vi")
)

json_value <- function(x) {
  if (is.null(x)) return("null")
  if (is.data.frame(x)) x <- as.list(x)
  if (is.list(x)) {
    inner <- vapply(x, json_value, character(1))
    if (is.null(names(x))) return(paste0("[", paste(inner, collapse = ","), "]"))
    keys <- vapply(names(x), function(n) as.character(toJSON(n, auto_unbox = TRUE)),
                   character(1))
    return(paste0("{", paste0(keys, ":", inner, collapse = ","), "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  items <- if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    if (any(is.infinite(x))) stop("infinite value")
    ifelse(is.na(x), "null", sprintf("%.17g", as.double(x)))
  } else {
    vapply(x, function(s) if (is.na(s)) "null" else as.character(toJSON(s, auto_unbox = TRUE)),
           character(1))
  }
  if (length(x) == 1 && is.null(names(x))) items else paste0("[", paste(items, collapse = ","), "]")
}

# vectors of length 1 that are really vectors (coefficients of a 1-coefficient model, ...)
as_vectors <- function(rec, keys) {
  for (n in intersect(keys, names(rec))) rec[[n]] <- as.list(rec[[n]])
  rec
}
vec_keys <- c("terms", "estimate", "se", "z_or_t", "pvalue", "ci_low", "ci_high", "tau2_ci",
              "QM_df", "pvalue_perm", "pred", "pi_low", "pi_high", "rows", "filled_yi",
              "filled_vi", "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del",
              "hat", "weight", "influential", "baujat_x", "baujat_y", "coef", "tau2", "Q", "I2")
keep_scalar <- list(fits = c("tau2", "I2"), trimfill = c("estimate", "se", "ci_low", "ci_high",
                    "z_or_t", "pvalue", "tau2", "I2", "Q"),
                    sensitivity = c("estimate", "se", "ci_low", "ci_high", "z_or_t", "pvalue",
                                    "tau2", "I2", "pi_low", "pi_high"),
                    regtest = c("estimate", "ci_low", "ci_high", "pvalue"))
vectorise <- function(records, group) {
  keys <- setdiff(vec_keys, keep_scalar[[group]])
  lapply(records, as_vectors, keys = keys)
}

out <- list(
  notes = notes,
  datasets = setNames(lapply(names(data_sets), function(n) {
    list(description = descriptions[[n]], data = as.list(data_sets[[n]]))
  }), names(data_sets)),
  fits = vectorise(fits, "fits"),
  predict = vectorise(predictions, "predict"),
  permutest = vectorise(permutations, "permutest"),
  influence = vectorise(influence_cases, "influence"),
  leave1out = vectorise(leave1out_cases, "leave1out"),
  regtest = vectorise(regtests, "regtest"),
  ranktest = ranktests,
  trimfill = vectorise(trimfills, "trimfill"),
  sensitivity = vectorise(sensitivity, "sensitivity")
)
out_path <- file.path("tests", "reference", "stage2_metareg.json")
writeLines(json_value(out), out_path)
message("wrote ", out_path)
