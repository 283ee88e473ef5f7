# Reference values for model comparison and study-level predictions in ipdmeta
# (fit statistics, likelihood-ratio tests, Wald tests of coefficient subsets and linear
# hypotheses, BLUPs and random effects, joint permutation tests, profile likelihoods),
# computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/stage2_modelcomp.R
# It writes tests/reference/stage2_modelcomp.json, which tests/test_modelcomp.py reads; the
# input data are stored in the JSON, so the Python tests need no R.  Takes about a minute.
#
# Requires: metafor (written with 3.8.1), metadat, jsonlite.  Numbers are written with 15
# significant digits (jsonlite, digits = NA); NA is written as null.
#
# What is computed:
#   * fitstats: rma(yi, vi, mods, method) fit statistics (logLik, deviance, AIC, BIC, AICc)
#     under ML and REML (fitstats(res, REML = FALSE / TRUE)) for FE, DL, REML, ML, PM;
#   * anova(full, reduced): likelihood-ratio tests (LRT, df, p, fit statistics, QE, tau2, R2);
#   * anova(res, btt =) and anova(res, X =, rhs =): Wald tests of coefficient subsets and
#     of linear combinations (z and Knapp-Hartung variants);
#   * blup() and ranef() (pred, se, pi.lb, pi.ub);
#   * permutest(rma(..., btt =), exact = TRUE): the joint permutation test of a subset;
#   * profile(res): the (restricted) log-likelihood profile of tau2 over metafor's default
#     grid, with beta and its CI at each value;
#   * the ML profile log-likelihood of mu (tau2 maximised for each fixed mu; metafor 3.8
#     profiles variance components only, so this is computed directly from the normal
#     log-likelihood that metafor maximises, sum(dnorm(yi, mu, sqrt(vi + tau2), log=TRUE))).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
tests <- c(z = "z", t = "t", hksj = "knha", `hksj-trunc` = "adhoc")

# ---------------------------------------------------------------- data sets
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
rau <- dat.raudenbush1985
hs <- dat.hackshaw1998
data_sets <- list(
  bcg = data.frame(study = paste(bcg$author, bcg$year), yi = as.numeric(bcg$yi),
                   vi = as.numeric(bcg$vi), ablat = bcg$ablat, year = bcg$year,
                   alloc = as.character(bcg$alloc),
                   crisk = bcg$cpos / (bcg$cpos + bcg$cneg), decade = (bcg$year - 1960) / 10),
  raudenbush1985 = data.frame(study = paste0(rau$study, ": ", rau$author, " ", rau$year),
                              yi = rau$yi, vi = rau$vi, weeks = rau$weeks,
                              setting = as.character(rau$setting),
                              tester = as.character(rau$tester)),
  hackshaw1998 = data.frame(study = paste0(hs$study, ": ", hs$author, " ", hs$year),
                            yi = hs$yi, vi = hs$vi)
)

models <- list(
  bcg_1 = list(data = "bcg", formula = "~ 1", mods = NULL),
  bcg_ablat = list(data = "bcg", formula = "~ ablat", mods = ~ ablat),
  bcg_full = list(data = "bcg", formula = "~ ablat + year + C(alloc)",
                  mods = ~ ablat + year + factor(alloc)),
  rau_1 = list(data = "raudenbush1985", formula = "~ 1", mods = NULL),
  rau_weeks = list(data = "raudenbush1985", formula = "~ weeks", mods = ~ weeks),
  rau_tester = list(data = "raudenbush1985", formula = "~ C(tester) + weeks",
                    mods = ~ factor(tester) + weeks),
  rau_inter = list(data = "raudenbush1985", formula = "~ C(setting) * weeks",
                   mods = ~ factor(setting) * weeks),
  hs_1 = list(data = "hackshaw1998", formula = "~ 1", mods = NULL)
)

fit <- function(model, method, ci = "z", rows = NULL, ...) {
  d <- data_sets[[model$data]]
  if (!is.null(rows)) d <- d[rows, , drop = FALSE]
  args <- list(yi = d$yi, vi = d$vi, method = method, test = tests[[ci]], control = ctrl,
               data = d, slab = d$study, ...)
  if (!is.null(model$mods)) args$mods <- model$mods
  suppressWarnings(do.call(rma.uni, args))
}

stats_of <- function(r, reml) {
  s <- fitstats(r, REML = reml)[, 1]
  list(loglik = s[1], deviance = s[2], aic = s[3], bic = s[4], aicc = s[5])
}

# ---------------------------------------------------------------- fitstats
fitstats_cases <- list()
for (name in c("bcg_1", "bcg_ablat", "bcg_full", "rau_tester", "hs_1")) {
  for (method in c("FE", "DL", "REML", "ML", "PM")) {
    r <- fit(models[[name]], method)
    fitstats_cases[[length(fitstats_cases) + 1]] <- list(
      model = name, data = models[[name]]$data, formula = models[[name]]$formula,
      method = method, tau2 = r$tau2, parms = r$parms,
      ML = stats_of(r, FALSE), REML = stats_of(r, TRUE))
  }
}

# ---------------------------------------------------------------- anova (LRT)
lrt_record <- function(full, reduced, method_f, method_r = method_f) {
  f <- fit(models[[full]], method_f)
  r <- fit(models[[reduced]], method_r)
  a <- suppressWarnings(anova(f, r))
  list(full = full, reduced = reduced, method_full = method_f, method_reduced = method_r,
       LRT = a$LRT, df = a$parms.f - a$parms.r, pvalue = a$pval,
       parms_full = a$parms.f, parms_reduced = a$parms.r,
       loglik_full = unname(a$fit.stats.f["ll"]), loglik_reduced = unname(a$fit.stats.r["ll"]),
       aic_full = unname(a$fit.stats.f["AIC"]), aic_reduced = unname(a$fit.stats.r["AIC"]),
       bic_full = unname(a$fit.stats.f["BIC"]), bic_reduced = unname(a$fit.stats.r["BIC"]),
       aicc_full = unname(a$fit.stats.f["AICc"]), aicc_reduced = unname(a$fit.stats.r["AICc"]),
       QE_full = a$QE.f, QE_reduced = a$QE.r, tau2_full = a$tau2.f, tau2_reduced = a$tau2.r,
       R2 = a$R2)
}
lrts <- list(
  lrt_record("bcg_ablat", "bcg_1", "ML"),
  lrt_record("bcg_full", "bcg_ablat", "ML"),
  lrt_record("bcg_1", "bcg_1", "REML", "FE"),
  lrt_record("bcg_ablat", "bcg_ablat", "ML", "FE"),
  lrt_record("rau_tester", "rau_weeks", "ML"),
  lrt_record("rau_weeks", "rau_1", "FE"),
  lrt_record("hs_1", "hs_1", "REML", "FE")
)

# ---------------------------------------------------------------- Wald tests
wald_btt <- function(model, method, ci, btt, label) {
  r <- fit(models[[model]], method, ci)
  a <- anova(r, btt = btt)
  list(model = model, method = method, ci = ci, terms = rownames(r$beta), btt = label,
       tested = a$btt - 1, QM = a$QM, QM_df = a$QMdf, QM_pvalue = a$QMp)
}
wald_L <- function(model, method, ci, L, rhs = 0) {
  r <- fit(models[[model]], method, ci)
  a <- anova(r, X = L, rhs = rhs)
  list(model = model, method = method, ci = ci, terms = rownames(r$beta),
       L = lapply(seq_len(nrow(L)), function(i) L[i, ]), rhs = rhs,
       estimate = as.numeric(a$Xb), se = a$se, statistic = a$zval, pvalue = a$pval,
       df = a$ddf, QM = a$QM, QM_df = a$QMdf, QM_pvalue = a$QMp)
}
L_bcg <- rbind(c(0, 1, 0, 0, 0), c(0, 0, 0, 1, -1), c(1, 30, 1970, 0, 1))
L_rau <- rbind(c(0, 1, 0, 0), c(0, 0, 1, 1))
walds <- list(
  wald_btt("bcg_full", "REML", "z", c(4, 5), list("C(alloc)[T.random]", "C(alloc)[T.systematic]")),
  wald_btt("bcg_full", "REML", "hksj", c(4, 5), list("C(alloc)[T.random]", "C(alloc)[T.systematic]")),
  wald_btt("bcg_full", "DL", "t", c(2, 3), list("ablat", "year")),
  wald_btt("bcg_full", "ML", "z", "alloc", list("alloc")),
  wald_btt("rau_inter", "REML", "hksj-trunc", c(2, 4), list("C(setting)[T.indiv]", "C(setting)[T.indiv]:weeks")),
  wald_btt("bcg_full", "FE", "z", 2, list("ablat"))
)
wald_Ls <- list(
  wald_L("bcg_full", "REML", "z", L_bcg),
  wald_L("bcg_full", "REML", "hksj", L_bcg),
  wald_L("bcg_full", "PM", "t", L_bcg[1:2, , drop = FALSE], rhs = c(-0.02, 0.1)),
  wald_L("rau_inter", "REML", "hksj", L_rau),
  wald_L("rau_inter", "FE", "z", L_rau)
)

# ---------------------------------------------------------------- blup / ranef
blup_record <- function(model, method, ci, level = 0.95) {
  r <- fit(models[[model]], method, ci, level = 100 * level)
  b <- blup(r)
  u <- ranef(r)
  list(model = model, method = method, ci = ci, level = level,
       blup = list(pred = b$pred, se = b$se, pi_low = b$pi.lb, pi_high = b$pi.ub),
       ranef = list(pred = u$pred, se = u$se, pi_low = u$pi.lb, pi_high = u$pi.ub))
}
blups <- list(
  blup_record("bcg_1", "REML", "z"),
  blup_record("bcg_1", "DL", "hksj"),
  blup_record("bcg_ablat", "REML", "hksj"),
  blup_record("bcg_full", "ML", "t", 0.90),
  blup_record("rau_tester", "PM", "z"),
  blup_record("bcg_1", "FE", "z")
)

# ---------------------------------------------------------------- joint permutation test
message("permutation tests ...")
# (year centred as decades since 1960: with the raw year, REML fails to converge in one
# arrangement for metafor and in another one for ipdmeta's batched refits)
joint_model <- list(data = "bcg", formula = "~ ablat + decade + crisk",
                    mods = ~ ablat + decade + crisk)
perm_record <- function(method, ci, btt, rows) {
  r <- fit(joint_model, method, ci, rows = rows, btt = btt)
  pt <- permutest(r, exact = TRUE, progbar = FALSE)
  list(formula = joint_model$formula, method = method, ci = ci, rows = rows - 1,
       terms = rownames(r$beta), joint = btt - 1, QM = r$QM, QM_df = r$QMdf,
       QM_pvalue = r$QMp, QM_pvalue_perm = pt$QMp, n_permutations = pt$exact.iter)
}
joint_perms <- list(
  perm_record("REML", "hksj", c(2, 3), 1:7),
  perm_record("DL", "z", c(3, 4), 1:7)
)

# ---------------------------------------------------------------- profile likelihood of tau2
message("profiles ...")
profile_record <- function(model, method, ci = "z", steps = 20) {
  r <- fit(models[[model]], method, ci)
  p <- profile(r, steps = steps, plot = FALSE, progbar = FALSE)
  list(model = model, method = method, ci = ci, tau2 = p$tau2, loglik = p$ll,
       estimate = lapply(p$beta, as.numeric), ci_low = lapply(p$ci.lb, as.numeric),
       ci_high = lapply(p$ci.ub, as.numeric), xlim = p$xlim, maxll = as.numeric(p$maxll),
       tau2_hat = r$tau2)
}
profiles <- list(
  profile_record("bcg_1", "REML"),
  profile_record("bcg_1", "ML", "hksj"),
  profile_record("bcg_1", "DL", "z", 9),
  profile_record("bcg_ablat", "REML", "z"),
  profile_record("rau_1", "REML", "t")
)

# profile log-likelihood of mu (ML): tau2 = argmax of the normal log-likelihood at fixed mu
mu_profile <- function(dn, n = 15) {
  d <- data_sets[[dn]]
  r <- fit(list(data = dn, mods = NULL), "ML")
  ll_at <- function(mu, t2) sum(dnorm(d$yi, mu, sqrt(d$vi + t2), log = TRUE))
  tau2_at <- function(mu) {
    score <- function(t2) sum(((d$yi - mu)^2 - d$vi - t2) / (d$vi + t2)^2)
    if (score(0) <= 0) return(0)
    hi <- 1
    while (score(hi) > 0) hi <- hi * 2
    uniroot(score, c(0, hi), tol = 1e-15, maxiter = 1000)$root
  }
  mus <- seq(r$beta[1] - 4 * r$se, r$beta[1] + 4 * r$se, length.out = n)
  t2s <- vapply(mus, tau2_at, numeric(1))
  list(data = dn, mu = mus, tau2 = t2s, loglik = mapply(ll_at, mus, t2s),
       mu_hat = as.numeric(r$beta), maxll = as.numeric(logLik(r)))
}
mu_profiles <- list(mu_profile("bcg"), mu_profile("raudenbush1985"))

# ---------------------------------------------------------------- JSON
out <- list(
  notes = list(generated_by = "tests/reference/stage2_modelcomp.R",
               R_version = R.version.string,
               metafor_version = as.character(packageVersion("metafor")),
               metadat_version = as.character(packageVersion("metadat")),
               rma_control = "threshold = 1e-12, tol = 1e-12, maxiter = 1000",
               ci_map = "ci z -> test='z'; t -> 't'; hksj -> 'knha'; hksj-trunc -> 'adhoc'",
               indices = "tested, joint and rows are 0-based"),
  datasets = lapply(data_sets, as.list),
  models = lapply(models, function(m) list(data = m$data, formula = m$formula)),
  fitstats = fitstats_cases, lrt = lrts, wald_btt = walds, wald_L = wald_Ls,
  blup = blups, joint_permutation = joint_perms, profile_tau2 = profiles,
  profile_mu = mu_profiles
)
out_path <- file.path("tests", "reference", "stage2_modelcomp.json")
write_json(out, out_path, digits = NA, auto_unbox = TRUE, na = "null", null = "null")
message("wrote ", out_path)
