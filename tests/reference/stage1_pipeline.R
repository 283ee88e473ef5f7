# Reference values for the stage-1 pipeline (ipdmeta.stage1 / ipdmeta.ipdmeta) on the
# bundled example datasets, computed with R's survival, stats and metafor.
#
# Run from the repository root:
#     Rscript tests/reference/stage1_pipeline.R
# It writes tests/reference/stage1_pipeline.json, which tests/test_stage1.py and
# tests/test_analysis.py read (the Python tests need no R).
#
# Requires: survival, metafor, jsonlite.  Numbers are written with 17 significant digits.
#
# What is computed, per study (one model per trial, as ipdmetan fits it):
#   * hypertension: coxph(Surv(time, event) ~ treat + smk + sbpi + age + bmi), ties efron
#     and breslow; and the within-trial treat x age interaction with age centred in each
#     trial: coxph(Surv(time, event) ~ treat + age + treat:agec), agec = age - mean(age);
#   * weight_gain: lm(final_wt ~ trt + baseline_wt);
#   * weight_gain_binary: glm(gdm ~ trt + baseline_wt, binomial) for the trials where
#     the model is estimable (R reports no error for separated trials; ipdmeta does, so
#     their ids are listed in "not_estimable" for the test to check).
# Then rma(yi, sei, method = "REML") (and "DL" with test = "knha") of the estimates.

suppressPackageStartupMessages({
  library(survival)
  library(metafor)
  library(jsonlite)
})

# numbers verbatim with 17 significant digits (jsonlite's own output stops at 15)
num <- function(x) {
  txt <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  if (length(x) == 1) return(structure(txt, class = "json"))
  structure(paste0("[", paste(txt, collapse = ", "), "]"), class = "json")
}

read_ds <- function(name) {
  read.csv(file.path("src/ipdmeta/datasets", paste0(name, ".csv")), stringsAsFactors = FALSE)
}

per_study <- function(data, study, fitfun, term) {
  ids <- sort(unique(data[[study]]))
  est <- se <- numeric(length(ids))
  for (i in seq_along(ids)) {
    d <- data[data[[study]] == ids[i], ]
    fit <- fitfun(d)
    est[i] <- coef(fit)[[term]]
    se[i] <- sqrt(vcov(fit)[term, term])
  }
  list(study = ids, estimate = est, se = se)
}

pooled <- function(r) {
  ctrl <- list(threshold = 1e-12, maxiter = 1000)
  reml <- rma(yi = r$estimate, sei = r$se, method = "REML", control = ctrl)
  dl <- rma(yi = r$estimate, sei = r$se, method = "DL", test = "knha")
  list(REML = list(estimate = num(reml$b[1]), se = num(reml$se), tau2 = num(reml$tau2),
                   ci_low = num(reml$ci.lb), ci_high = num(reml$ci.ub)),
       DL_hksj = list(estimate = num(dl$b[1]), se = num(dl$se), tau2 = num(dl$tau2),
                      ci_low = num(dl$ci.lb), ci_high = num(dl$ci.ub)))
}

out_case <- function(r, extra = list()) {
  c(list(study = I(as.character(r$study)), estimate = num(r$estimate), se = num(r$se),
         pooled = pooled(r)), extra)
}

ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100)
hyp <- read_ds("hypertension")
cox_formula <- Surv(time, event) ~ treat + smk + sbpi + age + bmi
cox_efron <- per_study(hyp, "trial", function(d) coxph(cox_formula, data = d, ties = "efron",
                                                       control = ctl), "treat")
cox_breslow <- per_study(hyp, "trial", function(d) coxph(cox_formula, data = d,
                                                         ties = "breslow", control = ctl),
                         "treat")
cox_inter <- per_study(hyp, "trial", function(d) {
  d$agec <- d$age - mean(d$age)
  coxph(Surv(time, event) ~ treat + age + treat:agec, data = d, control = ctl)
}, "treat:agec")

wg <- read_ds("weight_gain")
linear <- per_study(wg, "study_name", function(d) lm(final_wt ~ trt + baseline_wt, data = d),
                    "trt")

wgb <- read_ds("weight_gain_binary")
glm_ctl <- glm.control(epsilon = 1e-14, maxit = 100)
not_estimable <- c("Baptiste 1999", "Dunmore 2002", "Lindqvist 2007", "Okonkwo 2008",
                   "Yardley 2011")
logistic <- per_study(wgb[!(wgb$study_name %in% not_estimable), ], "study_name", function(d)
  glm(gdm ~ trt + baseline_wt, family = binomial, data = d, control = glm_ctl), "trt")

result <- list(
  notes = paste("Per-study coefficients of the pooled term from R (survival",
                as.character(packageVersion("survival")), ", metafor",
                as.character(packageVersion("metafor")), ") on the bundled datasets;",
                "see tests/reference/stage1_pipeline.R"),
  cox_efron = out_case(cox_efron),
  cox_breslow = out_case(cox_breslow),
  cox_interaction = out_case(cox_inter),
  linear = out_case(linear),
  logistic = out_case(logistic, list(not_estimable = I(not_estimable)))
)
write_json(result, "tests/reference/stage1_pipeline.json", auto_unbox = TRUE,
           json_verbatim = TRUE, pretty = TRUE)
cat("wrote tests/reference/stage1_pipeline.json\n")
