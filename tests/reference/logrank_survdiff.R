# Reference values for the log-rank (Peto) stage 1 (ipdmeta.models.logrank) from
# R's survival::survdiff, on real data sets of the survival package and the bundled
# hypertension data.
#
# Run from the repository root:
#     Rscript tests/reference/logrank_survdiff.R
# It writes tests/reference/logrank_survdiff.json, which tests/test_logrank.py reads
# (the Python tests need no R).
#
# Requires: survival, metafor, jsonlite.  Numbers are written with 17 significant digits.
#
# Each case splits a data set into "studies" and, in each study, runs
#     survdiff(Surv(time, status) ~ group)                  (no strata), or
#     survdiff(Surv(time, status) ~ group + strata(s))       (strata)
# on the complete cases of (study, time, status, group, s), the same rows for both.
# with group a 0/1 variable.  Per study it records O and E of group 1 (summed over the
# strata: survdiff returns them per stratum), V = var[2, 2] (the hypergeometric
# variance of O - E, summed over strata), n and the number of events.  A study where
# survdiff cannot run (one group only, or no events) is written with null values and
# "estimable": false.  The rows each data set gave are written to
# tests/reference/data/logrank_<data>.csv (not for the bundled hypertension data), so
# the Python test reads exactly these rows.
#
# Stage 2 on the studies with V > 0: metafor::rma(yi = (O - E)/V, vi = 1/V) with
# method "FE" (the Peto fixed effect, sum(O - E)/sum(V)) and "REML".

suppressPackageStartupMessages({
  library(survival)
  library(metafor)
  library(jsonlite)
})

# numbers verbatim with 17 significant digits: a vector (JSON array) or one number
num <- function(x) {
  txt <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  structure(paste0("[", paste(txt, collapse = ", "), "]"), class = "json")
}
num1 <- function(x) structure(sprintf("%.17g", x), class = "json")

one_study <- function(d, strata) {
  n <- nrow(d)
  events <- sum(d$status)
  if (length(unique(d$group)) < 2 || events == 0) {
    return(c(O = NA, E = NA, V = NA, n = n, events = events, ok = 0))
  }
  f <- tryCatch(
    if (strata) survdiff(Surv(time, status) ~ group + strata(s), data = d)
    else survdiff(Surv(time, status) ~ group, data = d),
    # V = 0 (every event with one group only at risk): survdiff stops at its chi-square;
    # its engine survdiff.fit gives O, E and V
    error = function(e) {
      r <- survival:::survdiff.fit(Surv(d$time, d$status), d$group,
                                   strat = if (strata) d$s else rep(1, nrow(d)))
      list(obs = r$observed, exp = r$expected, var = r$var)
    })
  obs <- if (is.matrix(f$obs)) rowSums(f$obs) else f$obs
  ex <- if (is.matrix(f$exp)) rowSums(f$exp) else f$exp
  c(O = obs[[2]], E = ex[[2]], V = f$var[2, 2], n = n, events = events, ok = 1)
}

# complete cases of study, time, status, group, s; written to
# tests/reference/data/logrank_<data>.csv unless the data are bundled with ipdmeta
prepare <- function(data_name, d, save = TRUE) {
  keep <- c("study", "time", "status", "group", "s")
  d <- d[complete.cases(d[, keep]), keep]
  if (save) write.csv(d, file.path("tests/reference/data", paste0("logrank_", data_name, ".csv")),
                      row.names = FALSE)
  d
}

run_case <- function(name, d, strata) {
  ids <- sort(unique(d$study))
  res <- t(sapply(ids, function(i) one_study(d[d$study == i, ], strata)))
  ok <- !is.na(res[, "V"]) & res[, "V"] > 0
  pooled <- NULL
  if (sum(ok) >= 2) {
    yi <- (res[ok, "O"] - res[ok, "E"]) / res[ok, "V"]
    vi <- 1 / res[ok, "V"]
    ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
    fe <- rma(yi = yi, vi = vi, method = "FE")
    re <- rma(yi = yi, vi = vi, method = "REML", control = ctrl)
    pooled <- list(FE = list(estimate = num1(fe$b[1]), se = num1(fe$se), Q = num1(fe$QE)),
                   REML = list(estimate = num1(re$b[1]), se = num1(re$se), tau2 = num1(re$tau2)))
  }
  list(name = name, strata = strata, pooled = pooled, study = I(ids), O = num(res[, "O"]), E = num(res[, "E"]),
       V = num(res[, "V"]), n = I(as.integer(res[, "n"])), events = I(as.integer(res[, "events"])),
       estimable = I(as.logical(res[, "ok"])))
}

cases <- list()

# lung (NCCTG advanced lung cancer): institutions as studies, women vs men
lung2 <- with(lung, data.frame(study = inst, time = time, status = as.integer(status == 2),
                                group = as.integer(sex == 2), s = ph.ecog))
lung2 <- prepare("lung", lung2)
cases[[length(cases) + 1]] <- run_case("lung", lung2, FALSE)
cases[[length(cases) + 1]] <- run_case("lung_strata", lung2, TRUE)

# veteran (VA lung cancer trial): cell types as studies, test vs standard treatment,
# stratified by prior therapy
vet <- with(veteran, data.frame(study = as.character(celltype), time = time, status = status,
                                 group = as.integer(trt == 2), s = prior))
vet <- prepare("veteran", vet)
cases[[length(cases) + 1]] <- run_case("veteran", vet, FALSE)
cases[[length(cases) + 1]] <- run_case("veteran_strata", vet, TRUE)

# colon (adjuvant chemotherapy), death: differentiation grades as studies, Lev+5FU vs
# observation, stratified by extent of local spread
col <- subset(colon, etype == 2 & rx != "Lev")
col2 <- with(col, data.frame(study = differ, time = time, status = status,
                              group = as.integer(rx == "Lev+5FU"), s = extent))
col2 <- prepare("colon", col2)
cases[[length(cases) + 1]] <- run_case("colon", col2, FALSE)
cases[[length(cases) + 1]] <- run_case("colon_strata", col2, TRUE)

# ovarian: one study, rx 2 vs 1, stratified by residual disease
ova <- with(ovarian, data.frame(study = 1L, time = futime, status = fustat,
                                 group = as.integer(rx == 2), s = resid.ds))
ova <- prepare("ovarian", ova)
cases[[length(cases) + 1]] <- run_case("ovarian", ova, FALSE)
cases[[length(cases) + 1]] <- run_case("ovarian_strata", ova, TRUE)

# nwtco (National Wilms Tumor Study 3 and 4): the two studies, unfavourable vs
# favourable histology, relapse; many tied times; stratified by stage
nwt <- with(nwtco, data.frame(study = study, time = edrel, status = rel,
                               group = as.integer(histol == 2), s = stage))
nwt <- prepare("nwtco", nwt)
cases[[length(cases) + 1]] <- run_case("nwtco", nwt, FALSE)
cases[[length(cases) + 1]] <- run_case("nwtco_strata", nwt, TRUE)

# the bundled hypertension data: trials, treat, stratified by smoking
hyp <- read.csv("src/ipdmeta/datasets/hypertension.csv", stringsAsFactors = FALSE)
hyp2 <- with(hyp, data.frame(study = trial, time = time, status = event, group = treat,
                              s = smk))
hyp2 <- prepare("hypertension", hyp2, save = FALSE)
cases[[length(cases) + 1]] <- run_case("hypertension", hyp2, FALSE)
cases[[length(cases) + 1]] <- run_case("hypertension_strata", hyp2, TRUE)

names(cases) <- vapply(cases, function(x) x$name, "")
out <- list(generated_by = "tests/reference/logrank_survdiff.R",
            R = R.version.string, survival = as.character(packageVersion("survival")),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, json_verbatim = TRUE),
           "tests/reference/logrank_survdiff.json")
