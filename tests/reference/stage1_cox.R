# Reference values for ipdmeta.models.cox (stage-1 Cox fits), written by R.
#
# Run from the repository root:   Rscript tests/reference/stage1_cox.R
# Needs: R with survival (3.5 was used).  Writes
#   tests/reference/data/cox_*.csv   the input data (so the tests run without R)
#   tests/reference/stage1_cox.json  per-cluster estimates, se, loglik, R's status
#
# Per-cluster coxph fits with both ties methods on
#   veteran by celltype  Surv(time, status) ~ trt + karno + age
#   rats by litter       Surv(time, status) ~ rx            (clusters of 3: many fail)
#   lung by inst         Surv(time, status) ~ age + ph.ecog + strata(sex)
#   lung, whole          Surv(time, status) ~ age + ph.ecog + strata(sex)
#   lung in months       Surv(months, status) ~ age + sex + ph.ecog  (many ties)
#   simulated trials     Surv(time, status) ~ x1 + ... + x5  (times rounded: many ties)
#   constructed monotone-likelihood sets (single arm, combination, within strata)
# and Firth-penalised fits.  coxphf is not installable here, so the Firth
# reference is an independent implementation: the penalised log-likelihood
# loglik(b) + 0.5 * log det I(b) is evaluated with coxph itself (init = b,
# iter.max = 0 gives the log-likelihood and I(b)^{-1} at b), maximised by
# optim (BFGS, reltol 1e-16) and polished by the fixed-point iteration
# b <- b + I(b)^{-1} g(b) with g a 5-point central-difference gradient.  The
# standard errors are sqrt(diag(I(b)^{-1})) at the penalised estimate (as coxphf).
#
# Numbers are written with 17 significant digits by a small hand-written JSON
# writer (jsonlite rounds to 15).

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
datadir <- file.path(here, "data")
dir.create(datadir, showWarnings = FALSE, recursive = TRUE)

# R's status (ok / infinite / aliased / not converged) is that of coxph with its
# default control, as a user sees it; the reference values of an "ok" fit come
# from a refit with a tight tolerance.
ctrl <- coxph.control(eps = 1e-12, iter.max = 200, toler.chol = .Machine$double.eps^0.8)

# ------------------------------------------------------------------ JSON writer
num <- function(x) {
  ifelse(is.na(x), "null", ifelse(is.infinite(x), ifelse(x > 0, "1e999", "-1e999"),
                                  sprintf("%.17g", x)))
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (inherits(x, "arr")) {  # always an array
    x <- unclass(x)
    if (is.character(x)) return(paste0("[", paste0('"', x, '"', collapse = ","), "]"))
    return(paste0("[", paste(num(as.numeric(x)), collapse = ","), "]"))
  }
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- vapply(names(x), function(k) paste0('"', k, '":', to_json(x[[k]])), "")
      return(paste0("{", paste(items, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.character(x)) {
    x <- gsub('"', "'", x, fixed = TRUE)
    if (length(x) == 1) return(paste0('"', x, '"'))
    return(paste0("[", paste0('"', x, '"', collapse = ","), "]"))
  }
  if (is.logical(x) && length(x) == 1) return(if (is.na(x)) "null" else tolower(x))
  if (length(x) == 1) return(num(as.numeric(x)))
  paste0("[", paste(num(as.numeric(x)), collapse = ","), "]")
}
arr <- function(x) structure(x, class = "arr")

# ------------------------------------------------------------------ data
vet <- veteran[, c("time", "status", "trt", "karno", "age", "celltype")]
vet$celltype <- as.character(vet$celltype)

rats_d <- rats[, c("litter", "rx", "time", "status")]

lung_d <- lung[complete.cases(lung[, c("inst", "time", "status", "age", "sex", "ph.ecog")]),
               c("inst", "time", "status", "age", "sex", "ph.ecog")]
lung_d$status <- lung_d$status - 1          # 1/2 -> 0/1
lung_d$months <- round(lung_d$time / 30.4375)
lung_d$months[lung_d$months == 0] <- 0.5    # keep times positive
names(lung_d)[names(lung_d) == "ph.ecog"] <- "ph_ecog"
lung_d$all <- 1

set.seed(20240611)
sim <- do.call(rbind, lapply(1:4, function(k) {
  n <- 400
  X <- matrix(rnorm(n * 5), n)
  X[, 1] <- rbinom(n, 1, 0.5)
  lp <- X %*% c(-0.5, 0.3, -0.2, 0.1, 0)
  t <- rexp(n, 0.1 * exp(lp))
  cens <- runif(n, 2, 20)
  data.frame(trial = k, time = ceiling(pmin(t, cens)), status = as.numeric(t <= cens),
             x1 = X[, 1], x2 = round(X[, 2], 2), x3 = X[, 3], x4 = X[, 4], x5 = X[, 5])
}))

# constructed monotone-likelihood sets (column `set`)
con <- list()
set.seed(7)
n <- 40
treat <- rep(0:1, each = n / 2)
x2 <- round(rnorm(n, 50, 10))
time <- ceiling(rexp(n, 0.1))
# (a) no events in treat = 1: log HR -> -inf
st <- as.numeric(runif(n) < 0.7 & treat == 0)
con$arm_none <- data.frame(time = time, status = st, x1 = treat, x2 = x2, stratum = 1)
# (b) every event in treat = 1: log HR -> +inf
st <- as.numeric(runif(n) < 0.7 & treat == 1)
con$arm_all <- data.frame(time = time, status = st, x1 = treat, x2 = x2, stratum = 1)
# (c) monotone in x1 + x2 only: the participant with the event always has the
#     highest x1 + x2 among those at risk, neither covariate alone does
set.seed(11)
n <- 30
a <- rnorm(n); b <- rnorm(n)
z <- a + b
time <- rank(-z)
st <- as.numeric(runif(n) < 0.6)
con$combo <- data.frame(time = time, status = st, x1 = round(a, 3), x2 = round(b, 3),
                        stratum = 1)
# (d) monotone within strata: no events with x1 = 1 in either stratum
set.seed(5)
n <- 40
s <- rep(1:2, each = n / 2)
treat <- rep(rep(0:1, each = n / 4), 2)
time <- ceiling(rexp(n, 0.2))
st <- as.numeric(runif(n) < 0.8 & treat == 0)
con$strata_none <- data.frame(time = time, status = st, x1 = treat, x2 = round(rnorm(n), 2),
                              stratum = s)
# (e) a small regular set with heavy ties, for the Firth fit without separation
set.seed(3)
n <- 30
x1 <- rbinom(n, 1, 0.5)
x2 <- round(rnorm(n), 1)
time <- ceiling(rexp(n, 0.3 * exp(0.8 * x1)))
st <- as.numeric(runif(n) < 0.75)
con$small_ties <- data.frame(time = time, status = st, x1 = x1, x2 = x2, stratum = 1)
constructed <- do.call(rbind, lapply(names(con), function(k) cbind(set = k, con[[k]])))

write.csv(vet, file.path(datadir, "cox_veteran.csv"), row.names = FALSE)
write.csv(rats_d, file.path(datadir, "cox_rats.csv"), row.names = FALSE)
write.csv(lung_d, file.path(datadir, "cox_lung.csv"), row.names = FALSE)
write.csv(sim, file.path(datadir, "cox_sim_ties.csv"), row.names = FALSE)
write.csv(constructed, file.path(datadir, "cox_constructed.csv"), row.names = FALSE)
# read back what the tests read, so both sides use identical numbers
rd <- function(f) read.csv(file.path(datadir, f), stringsAsFactors = FALSE)
vet <- rd("cox_veteran.csv"); rats_d <- rd("cox_rats.csv"); lung_d <- rd("cox_lung.csv")
sim <- rd("cox_sim_ties.csv"); constructed <- rd("cox_constructed.csv")

# ------------------------------------------------------------------ fitting
r_status <- function(fit, events, warns, err) {
  if (!is.null(err)) return(paste("error:", err))
  if (events == 0) return("no_events")
  if (any(is.na(coef(fit)))) return("aliased")
  if (any(grepl("infinite", warns))) return("infinite")
  if (any(grepl("iterations", warns))) return("not_converged")
  "ok"
}

coxph_quiet <- function(fo, d, ties, control) {
  warns <- character(0)
  err <- NULL
  fit <- withCallingHandlers(
    tryCatch(coxph(fo, data = d, ties = ties, control = control),
             error = function(e) { err <<- conditionMessage(e); NULL }),
    warning = function(w) { warns <<- c(warns, conditionMessage(w))
                            invokeRestart("muffleWarning") })
  list(fit = fit, warns = warns, err = err)
}

fit_ml <- function(d, covs, strata, ties) {
  rhs <- paste(covs, collapse = " + ")
  if (!is.na(strata)) rhs <- paste0(rhs, " + strata(", strata, ")")
  fo <- as.formula(paste("Surv(time, status) ~", rhs))
  events <- sum(d$status)
  r0 <- coxph_quiet(fo, d, ties, coxph.control())
  status <- r_status(r0$fit, events, r0$warns, r0$err)
  out <- list(n = nrow(d), events = events, status = status, warnings = arr(r0$warns))
  if (is.null(r0$fit)) return(out)
  if (status != "ok") {
    return(c(out, list(coef_default = arr(unname(coef(r0$fit))),
                       se_default = arr(unname(sqrt(pmax(diag(r0$fit$var), 0)))))))
  }
  r <- coxph_quiet(fo, d, ties, ctrl)
  fit <- r$fit
  c(out, list(coef = arr(unname(coef(fit))), se = arr(unname(sqrt(diag(fit$var)))),
              loglik = fit$loglik[2], loglik_null = fit$loglik[1], iter = fit$iter,
              tight_warnings = arr(r$warns)))
}

# Firth: independent implementation on top of coxph
pen_at <- function(b, fo, d, ties) {
  fit <- suppressWarnings(coxph(fo, data = d, ties = ties, init = b,
                                control = coxph.control(iter.max = 0)))
  V <- fit$var
  list(pll = fit$loglik[2] - 0.5 * as.numeric(determinant(V, logarithm = TRUE)$modulus),
       ll = fit$loglik[2], V = V)
}
fit_firth <- function(d, covs, strata, ties) {
  rhs <- paste(covs, collapse = " + ")
  if (!is.na(strata)) rhs <- paste0(rhs, " + strata(", strata, ")")
  fo <- as.formula(paste("Surv(time, status) ~", rhs))
  p <- length(covs)
  pll <- function(b) pen_at(b, fo, d, ties)$pll
  obj <- function(b) tryCatch(-pll(b), error = function(e) 1e10)
  o <- optim(rep(0, p), obj, method = "BFGS",
             control = list(reltol = 1e-16, maxit = 2000))
  b <- o$par
  h <- 1e-3
  grad <- function(b) vapply(seq_len(p), function(j) {
    e <- replace(rep(0, p), j, h)
    (-pll(b + 2 * e) + 8 * pll(b + e) - 8 * pll(b - e) + pll(b - 2 * e)) / (12 * h)
  }, 0)
  for (it in 1:200) {           # polish: b <- b + I(b)^{-1} g(b)
    step <- as.numeric(pen_at(b, fo, d, ties)$V %*% grad(b))
    b <- b + step
    if (max(abs(step)) < 1e-11) break
  }
  at <- pen_at(b, fo, d, ties)
  list(n = nrow(d), events = sum(d$status), status = "ok", warnings = arr(character(0)),
       coef = arr(b), se = arr(sqrt(diag(at$V))), loglik = at$pll,
       loglik_unpenalised = at$ll, polish_iter = it, max_grad = max(abs(grad(b))))
}

run_case <- function(name, data, file, cluster, covs, strata = NA, ties = "efron",
                     firth = FALSE) {
  clusters <- if (is.na(cluster)) "all" else sort(unique(data[[cluster]]))
  res <- lapply(clusters, function(k) {
    d <- if (is.na(cluster)) data else data[data[[cluster]] == k, ]
    r <- if (firth) fit_firth(d, covs, strata, ties) else fit_ml(d, covs, strata, ties)
    c(list(cluster = as.character(k)), r)
  })
  cat(sprintf("%-28s %4d clusters: %s\n", name, length(clusters),
              paste(names(table(vapply(res, `[[`, "", "status"))),
                    table(vapply(res, `[[`, "", "status")), sep = "=", collapse = " ")))
  list(name = name, file = file, cluster = if (is.na(cluster)) NULL else cluster,
       covariates = arr(covs), strata = if (is.na(strata)) NULL else strata, ties = ties,
       firth = firth, fits = res)
}

cases <- list()
for (ties in c("efron", "breslow")) {
  cases[[length(cases) + 1]] <- run_case(paste0("veteran_", ties), vet, "cox_veteran.csv",
                                         "celltype", c("trt", "karno", "age"), ties = ties)
  cases[[length(cases) + 1]] <- run_case(paste0("rats_", ties), rats_d, "cox_rats.csv",
                                         "litter", "rx", ties = ties)
  cases[[length(cases) + 1]] <- run_case(paste0("lung_inst_strata_", ties), lung_d,
                                         "cox_lung.csv", "inst", c("age", "ph_ecog"),
                                         strata = "sex", ties = ties)
  cases[[length(cases) + 1]] <- run_case(paste0("lung_strata_", ties), lung_d, "cox_lung.csv",
                                         NA, c("age", "ph_ecog"), strata = "sex", ties = ties)
  lm <- lung_d
  lm$time <- lm$months
  write.csv(lm[, c("time", "status", "age", "sex", "ph_ecog")],
            file.path(datadir, "cox_lung_months.csv"), row.names = FALSE)
  lm <- rd("cox_lung_months.csv")
  cases[[length(cases) + 1]] <- run_case(paste0("lung_months_", ties), lm,
                                         "cox_lung_months.csv", NA,
                                         c("age", "sex", "ph_ecog"), ties = ties)
  cases[[length(cases) + 1]] <- run_case(paste0("sim_ties_", ties), sim, "cox_sim_ties.csv",
                                         "trial", paste0("x", 1:5), ties = ties)
  cases[[length(cases) + 1]] <- run_case(paste0("constructed_", ties), constructed,
                                         "cox_constructed.csv", "set", c("x1", "x2"),
                                         strata = "stratum", ties = ties)
  # (c) is left out: it is monotone in a whole cone of directions and its penalised
  # estimate is very large (about 50, se about 27), not a useful reference
  cases[[length(cases) + 1]] <- run_case(paste0("firth_constructed_", ties),
                                         constructed[constructed$set != "combo", ],
                                         "cox_constructed.csv", "set", c("x1", "x2"),
                                         strata = "stratum", ties = ties, firth = TRUE)
  cases[[length(cases) + 1]] <- run_case(paste0("firth_veteran_", ties), vet,
                                         "cox_veteran.csv", "celltype",
                                         c("trt", "karno", "age"), ties = ties, firth = TRUE)
}

out <- list(generated_by = "tests/reference/stage1_cox.R",
            r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")),
            coxph_control = "eps = 1e-12, iter.max = 200",
            cases = cases)
writeLines(to_json(out), file.path(here, "stage1_cox.json"))
cat("wrote", file.path(here, "stage1_cox.json"), "\n")
