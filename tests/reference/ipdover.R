# Reference values for ipdmeta's ipdover (ipdmeta.ipdover): treatment effects within
# the levels of covariates, computed with R's stats::glm, survival::coxph and metafor.
#
# Run from the repository root:
#     Rscript tests/reference/ipdover.R
# It writes tests/reference/ipdover.json and the data it used to
# tests/reference/data/ipdover_birthwt.csv and tests/reference/data/ipdover_breast.csv
# (tests/test_ipdover.py reads them; the Python tests need no R).
#
# Requires: MASS, survival, metafor, jsonlite.  Numbers are written with 17 significant
# digits.
#
# 1. Stata's own ipdover example 1 (help ipdover): the Hosmer-Lemeshow low birthweight
#    data (MASS::birthwt = Stata's "webuse lbw"), over(race smoke ht): logistic low age.
#    One model per level of each covariate on all its rows, and the model on all rows:
#    glm(low ~ age, binomial) with epsilon 1e-14.
# 2. Two-stage within subgroups: breast cancer data from survival (gbsg, a randomised
#    trial, and rotterdam split by year of surgery into 1978-84, 1985-88, 1989-93: four
#    "studies" GBSG, ROT78, ROT85, ROT89), coxph(Surv(time, status) ~ hormon + age) (Efron ties) in each study
#    within each level of meno and of grade; then metafor::rma(method = "REML", and
#    "FE") of the study estimates of each level, and of all the data.  time, status:
#    gbsg rfstime/status; rotterdam rtime/recur.  Grade 1 exists in gbsg only (k = 1).

suppressPackageStartupMessages({
  library(MASS)
  library(survival)
  library(metafor)
  library(jsonlite)
})

num <- function(x) {
  txt <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  structure(paste0("[", paste(txt, collapse = ", "), "]"), class = "json")
}

# ---- 1. birthwt
bw <- birthwt[, c("low", "age", "race", "smoke", "ht")]
write.csv(bw, "tests/reference/data/ipdover_birthwt.csv", row.names = FALSE, quote = FALSE)
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)
fit_glm <- function(d) {
  f <- glm(low ~ age, family = binomial, data = d, control = ctrl)
  c(est = coef(f)[["age"]], se = sqrt(vcov(f)["age", "age"]), n = nrow(d), events = sum(d$low))
}
rows <- list()
for (v in c("race", "smoke", "ht")) {
  for (lv in sort(unique(bw[[v]]))) {
    r <- fit_glm(bw[bw[[v]] == lv, ])
    rows[[length(rows) + 1]] <- data.frame(over = v, level = lv, est = r[["est"]],
                                           se = r[["se"]], n = r[["n"]], events = r[["events"]])
  }
}
bw_rows <- do.call(rbind, rows)
bw_all <- fit_glm(bw)

# ---- 2. breast: four studies
g <- with(gbsg, data.frame(study = "GBSG", time = rfstime, status = status, hormon = hormon,
                           age = age, meno = meno, grade = grade))
r <- with(rotterdam, data.frame(
  study = ifelse(year <= 1984, "ROT78", ifelse(year <= 1988, "ROT85", "ROT89")),
  time = rtime, status = recur, hormon = hormon, age = age, meno = meno, grade = grade))
br <- rbind(g, r)
write.csv(br, "tests/reference/data/ipdover_breast.csv", row.names = FALSE, quote = FALSE)

fit_cox <- function(d) {
  f <- coxph(Surv(time, status) ~ hormon + age, data = d, ties = "efron",
             control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100))
  c(est = coef(f)[["hormon"]], se = sqrt(vcov(f)["hormon", "hormon"]), n = nrow(d),
    events = sum(d$status))
}
two_stage <- function(d) {
  ids <- sort(unique(d$study))
  per <- t(sapply(ids, function(s) fit_cox(d[d$study == s, ])))
  out <- list(study = I(ids), est = num(per[, "est"]), se = num(per[, "se"]),
              n = I(as.integer(per[, "n"])), events = I(as.integer(per[, "events"])))
  if (length(ids) >= 2) {
    ctl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
    re <- rma(yi = per[, "est"], sei = per[, "se"], method = "REML", control = ctl)
    fe <- rma(yi = per[, "est"], sei = per[, "se"], method = "FE")
    out$REML <- list(estimate = num(re$b[1]), se = num(re$se), ci_low = num(re$ci.lb),
                     ci_high = num(re$ci.ub), tau2 = num(re$tau2))
    out$FE <- list(estimate = num(fe$b[1]), se = num(fe$se))
  }
  out
}
cells <- list()
for (v in c("meno", "grade")) {
  for (lv in sort(unique(br[[v]]))) {
    cells[[length(cells) + 1]] <- c(list(over = v, level = lv), two_stage(br[br[[v]] == lv, ]))
  }
}

out <- list(
  generated_by = "tests/reference/ipdover.R", R = R.version.string,
  survival = as.character(packageVersion("survival")),
  metafor = as.character(packageVersion("metafor")),
  birthwt = list(over = bw_rows$over, level = bw_rows$level, est = num(bw_rows$est),
                 se = num(bw_rows$se), n = bw_rows$n, events = bw_rows$events,
                 overall = list(est = num(bw_all[["est"]]), se = num(bw_all[["se"]]),
                                n = bw_all[["n"]], events = bw_all[["events"]])),
  breast = list(cells = cells, overall = two_stage(br)))
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, json_verbatim = TRUE),
           "tests/reference/ipdover.json")
