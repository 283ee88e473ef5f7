# Reference values for the stage-1 linear, logistic, Poisson and Firth fitters
# (src/ipdmeta/models/{linear,logistic,poisson,firth}.py).
#
# Run from the repository root:   Rscript tests/reference/stage1_glm.R
# Needs: lme4 (sleepstudy, grouseticks), HSAUR3 (respiratory), MASS (Insurance),
#        brglm2 (endometrial, Firth fits by "AS_mean" bias reduction).
# Writes tests/reference/data/glm_<data>.csv (cluster, y, [offset], design columns)
# and tests/reference/stage1_glm.json (per-cluster status, coefficients, se, cov,
# log-likelihood with 17 significant digits).  Every fit is run on the data as
# read back from the CSV, so R and Python see the same numbers.
#
# Status of a cluster, decided in R, in this order:
#   too_few_rows  n <= p
#   no_events     binary / count outcome with sum(y) == 0
#   all_events    binary outcome with sum(y) == n
#   collinear     qr(X, tol = 1e-7)$rank < p (R's lm/glm aliasing rule)
#   perfect_fit   lm with zero residual variance
#   separation    glm drives some fitted probabilities/rates to 0 (or 1), below
#                 1e-10 (above 1 - 1e-10), and some se > 100
#   not_converged glm did not converge
#   runaway       |b| * range(x) > 10 and se * range(x) > 100
#   ok            otherwise
# glm is run with epsilon = 1e-15, maxit = 200 so the references are converged
# far below the 1e-8 the tests ask for.  Firth: brglm2::brglmFit(type = "AS_mean")
# (equal to Firth's penalised likelihood for the canonical logit link), checked
# against an independent penalised-likelihood maximisation with optim (BFGS,
# analytic modified score) polished by Newton steps on the modified score.

suppressPackageStartupMessages({
  library(lme4)
  library(HSAUR3)
  library(MASS)
  library(brglm2)
})

out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------- JSON writer
source("tests/reference/_json.R")   # arr(), num(), to_json()

# ---------------------------------------------------------------- data I/O
clean_names <- function(nm) ifelse(nm == "(Intercept)", "Intercept", nm)

# Write cluster, y, [offset], X to CSV with 17 significant digits; read it back.
roundtrip <- function(name, cluster, y, X, offset = NULL) {
  colnames(X) <- clean_names(colnames(X))
  df <- data.frame(cluster = as.character(cluster), y = y, check.names = FALSE)
  if (!is.null(offset)) df$offset <- offset
  df <- cbind(df, as.data.frame(X, check.names = FALSE))
  path <- file.path(data_dir, paste0("glm_", name, ".csv"))
  fmt <- df
  for (k in names(fmt)[-1]) fmt[[k]] <- sprintf("%.17g", fmt[[k]])
  write.csv(fmt, path, row.names = FALSE, quote = TRUE)
  back <- read.csv(path, check.names = FALSE, colClasses = c(cluster = "character"))
  list(path = paste0("data/glm_", name, ".csv"), data = back, names = colnames(X),
       has_offset = !is.null(offset))
}

# ---------------------------------------------------------------- fitters
status_pre <- function(y, X, family) {
  n <- nrow(X); p <- ncol(X)
  if (n <= p) return("too_few_rows")
  if (family %in% c("logistic", "poisson", "firth") && sum(y) == 0) return("no_events")
  if (family %in% c("logistic", "firth") && sum(y) == n) return("all_events")
  if (qr(X, tol = 1e-7)$rank < p) return("collinear")
  NA_character_
}

glm_family <- function(family) if (family == "poisson") poisson() else binomial()

fit_ml <- function(y, X, family, offset = NULL) {
  n <- nrow(X); p <- ncol(X)
  events <- if (family == "linear") NULL else sum(y)
  res <- list(n = n, events = events, status = status_pre(y, X, family))
  if (!is.na(res$status)) return(res)
  if (family == "linear") {
    m <- lm(y ~ X - 1)
    s <- summary(m)
    if (s$sigma == 0 || sum(resid(m)^2) <= (1e-10 * max(abs(y)))^2 * (n - p)) {
      res$status <- "perfect_fit"; return(res)
    }
    res$status <- "ok"
    res$coef <- arr(unname(coef(m))); res$cov <- arr(unname(vcov(m)))
    res$se <- arr(unname(sqrt(diag(vcov(m))))); res$loglik <- as.numeric(logLik(m))
    return(res)
  }
  off <- if (is.null(offset)) rep(0, n) else offset
  warn <- character(0)
  m <- withCallingHandlers(
    glm(y ~ X - 1, family = glm_family(family), offset = off,
        control = glm.control(epsilon = 1e-15, maxit = 200)),
    warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  b <- unname(coef(m)); V <- unname(vcov(m)); se <- sqrt(diag(V))
  mu <- fitted(m)
  extreme <- any(mu < 1e-10) || (family == "logistic" && any(mu > 1 - 1e-10))
  rng <- apply(X, 2, function(x) if (diff(range(x)) > 0) diff(range(x)) else max(abs(x)))
  runaway <- any(abs(b) * rng > 10 & se * rng > 100)
  res$status <- if (extreme && any(se > 100)) "separation" else if (!m$converged)
    "not_converged" else if (runaway) "runaway" else "ok"
  res$warnings <- arr(if (length(warn)) warn else character(0))
  res$r_coef <- arr(b); res$r_se <- arr(se)     # what glm returned, whatever the status
  if (res$status == "ok") {
    # glm's vcov uses the IRLS weights of the iteration before the last update: one more
    # iteration from the converged estimate puts them at the estimate itself
    m <- glm(y ~ X - 1, family = glm_family(family), offset = off, start = b,
             control = glm.control(epsilon = 1e-15, maxit = 200))
    b <- unname(coef(m)); V <- unname(vcov(m)); se <- sqrt(diag(V))
    res$coef <- arr(b); res$se <- arr(se); res$cov <- arr(V)
    res$loglik <- as.numeric(logLik(m)); res$deviance <- deviance(m)
    res$iterations <- m$iter
  }
  res
}

# Independent Firth: maximise l(b) + 0.5 log det(X'WX) with optim, then Newton-polish
# the modified score U*(b) = X'(y - p + h (1/2 - p)) with a numerical Jacobian.
firth_pl <- function(b, y, X) {
  eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  sum(y * eta - log1p(exp(-abs(eta))) - pmax(eta, 0)) +
    0.5 * as.numeric(determinant(crossprod(X * sqrt(w)), logarithm = TRUE)$modulus)
}
firth_score <- function(b, y, X) {
  eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  Q <- qr.Q(qr(X * sqrt(w)))
  h <- rowSums(Q^2)
  drop(crossprod(X, y - p + h * (0.5 - p)))
}
firth_optim <- function(y, X) {
  o <- optim(rep(0, ncol(X)), function(b) -firth_pl(b, y, X),
             function(b) -firth_score(b, y, X), method = "BFGS",
             control = list(reltol = 1e-16, maxit = 10000))
  b <- o$par
  for (i in 1:20) {                       # Newton on U*(b) = 0, central-difference Jacobian
    U <- firth_score(b, y, X)
    J <- sapply(seq_along(b), function(j) {
      e <- rep(0, length(b)); e[j] <- 1e-5 * max(1, abs(b[j]))
      (firth_score(b + e, y, X) - firth_score(b - e, y, X)) / (2 * e[j])
    })
    step <- solve(J, U)
    b <- b - step
    if (max(abs(step)) < 1e-13) break
  }
  p <- plogis(drop(X %*% b))
  V <- solve(crossprod(X * sqrt(p * (1 - p))))
  list(coef = b, se = sqrt(diag(V)), pl = firth_pl(b, y, X),
       max_score = max(abs(firth_score(b, y, X))))
}

fit_firth <- function(y, X) {
  n <- nrow(X)
  res <- list(n = n, events = sum(y), status = status_pre(y, X, "firth"))
  if (!is.na(res$status)) return(res)
  m <- glm(y ~ X - 1, family = binomial(), method = "brglmFit", type = "AS_mean",
           epsilon = 1e-15, maxit = 500)
  V <- unname(vcov(m))
  own <- firth_optim(y, X)
  res$status <- "ok"
  res$coef <- arr(unname(coef(m))); res$se <- arr(sqrt(diag(V))); res$cov <- arr(V)
  res$brglm2_converged <- m$converged
  res$optim_coef <- arr(own$coef); res$optim_se <- arr(own$se)
  res$optim_max_score <- own$max_score
  res$penalised_loglik <- own$pl
  res$loglik <- as.numeric(logLik(m))     # unpenalised log-likelihood at the Firth estimate
  res
}

run <- function(name, family, rt, what) {
  d <- rt$data
  X <- as.matrix(d[, rt$names, drop = FALSE]); colnames(X) <- rt$names
  clusters <- unique(d$cluster)
  fits <- lapply(clusters, function(cl) {
    i <- d$cluster == cl
    r <- if (family == "firth") fit_firth(d$y[i], X[i, , drop = FALSE]) else
      fit_ml(d$y[i], X[i, , drop = FALSE], family, if (rt$has_offset) d$offset[i] else NULL)
    c(list(cluster = cl), r)
  })
  cat(sprintf("%-28s %-8s %s\n", name, family,
              paste(names(table(sapply(fits, `[[`, "status"))),
                    table(sapply(fits, `[[`, "status")), sep = "=", collapse = " ")))
  list(description = what, family = family, data = rt$path, names = arr(rt$names),
       offset = rt$has_offset, clusters = fits)
}

A <- list()

# ---------------------------------------------------------------- real data
## sleepstudy: reaction time by days of sleep deprivation, one regression per subject
ss <- lme4::sleepstudy
rt <- roundtrip("sleepstudy", ss$Subject, ss$Reaction, model.matrix(~ Days, ss))
A$sleepstudy_lm <- run("sleepstudy_lm", "linear", rt, "lme4::sleepstudy, lm(Reaction ~ Days) by Subject")

## grouseticks: tick counts on grouse chicks; by YEAR (~ height) and by LOCATION (~ YEAR).
gt <- lme4::grouseticks
rt <- roundtrip("grouseticks_year", gt$YEAR, gt$TICKS, model.matrix(~ cHEIGHT, gt))
A$grouseticks_year <- run("grouseticks_year", "poisson", rt,
                          "lme4::grouseticks, glm(TICKS ~ cHEIGHT, poisson) by YEAR")
# design built on the whole data set: locations seen in one year only have aliased
# YEAR dummies; many locations are tiny or have no ticks (expected failures)
rt <- roundtrip("grouseticks_location", gt$LOCATION, gt$TICKS, model.matrix(~ YEAR, gt))
A$grouseticks_location <- run("grouseticks_location", "poisson", rt,
                              "lme4::grouseticks, glm(TICKS ~ YEAR, poisson) by LOCATION")

## respiratory: status good vs poor at months 1-4 given treatment, sex, age, baseline;
## one logistic regression per centre x month (8 clusters)
rs <- HSAUR3::respiratory
base <- rs[rs$month == "0", c("subject", "status")]
names(base)[2] <- "baseline"
rs <- merge(rs[rs$month != "0", ], base, by = "subject")
rs <- rs[order(rs$centre, rs$month, as.integer(as.character(rs$subject))), ]
rs$good <- as.numeric(rs$status == "good")
rs$cl <- paste0("centre", rs$centre, "_month", rs$month)
rt <- roundtrip("respiratory", rs$cl, rs$good,
                model.matrix(~ treatment + gender + age + baseline, rs))
A$respiratory_logit <- run("respiratory_logit", "logistic", rt,
  "HSAUR3::respiratory, glm(good ~ treatment + gender + age + baseline, binomial) by centre x month")
A$respiratory_firth <- run("respiratory_firth", "firth", rt,
  "HSAUR3::respiratory, Firth logistic (brglm2 AS_mean) by centre x month")

## Insurance: claims with log(holders) exposure, by district
ins <- MASS::Insurance
ins$Group <- factor(as.character(ins$Group), levels = levels(ins$Group))
ins$Age <- factor(as.character(ins$Age), levels = levels(ins$Age))
rt <- roundtrip("insurance", ins$District, ins$Claims, model.matrix(~ Group + Age, ins),
                offset = log(ins$Holders))
A$insurance_offset <- run("insurance_offset", "poisson", rt,
  "MASS::Insurance, glm(Claims ~ Group + Age + offset(log(Holders)), poisson) by District")

## endometrial (Heinze & Schemper 2002): NV separates quasi-completely
en <- brglm2::endometrial
rt <- roundtrip("endometrial", rep("all", nrow(en)), en$HG, model.matrix(~ NV + PI + EH, en))
A$endometrial_logit <- run("endometrial_logit", "logistic", rt,
                           "brglm2::endometrial, glm(HG ~ NV + PI + EH, binomial): separation")
A$endometrial_firth <- run("endometrial_firth", "firth", rt,
                           "brglm2::endometrial, Firth logistic HG ~ NV + PI + EH")

# ---------------------------------------------------------------- constructed cases
set.seed(20240501)
mk <- function(cl, treat, age, y) data.frame(cluster = cl, treat = treat, age = age, y = y)
b <- list()
n <- 60; t <- rep(0:1, n / 2); a <- round(rnorm(n, 50, 10))
b$ok <- mk("ok", t, a, rbinom(n, 1, plogis(-1 + 0.8 * t + 0.03 * (a - 50))))
n <- 12; t <- rep(0:1, each = 6); a <- round(rnorm(n, 50, 10))
b$complete_separation <- mk("complete_separation", t, a, t)
y <- c(rep(0, 6), 1, 0, 1, 1, 0, 1)
b$quasi_separation <- mk("quasi_separation", t, a, y)
b$no_events <- mk("no_events", t, a, rep(0, n))
b$all_events <- mk("all_events", t, a, rep(1, n))
b$constant_treat <- mk("constant_treat", rep(1, n), a, rbinom(n, 1, 0.5))
b$too_few_rows <- mk("too_few_rows", c(0, 1, 1), c(40, 50, 60), c(0, 1, 0))
n <- 30; a <- round(rnorm(n, 50, 10)); t <- rep(0:1, n / 2)
b$age_separation <- mk("age_separation", t, a, as.numeric(a > 50))
n <- 200; t <- rep(0:1, n / 2); a <- round(rnorm(n, 50, 10))
b$rare_ok <- mk("rare_ok", t, a, rbinom(n, 1, plogis(-3 + 0.7 * t)))
cb <- do.call(rbind, b)
X <- model.matrix(~ treat + age, cb)
rt <- roundtrip("constructed_logit", cb$cluster, cb$y, X)
A$constructed_logit <- run("constructed_logit", "logistic", rt, "constructed logistic cases")
A$constructed_firth <- run("constructed_firth", "firth", rt, "constructed cases, Firth")
cc <- b$ok; cc$cluster <- "collinear"
Xc <- cbind(model.matrix(~ treat + age, cc), age10 = cc$age / 10)
rt <- roundtrip("constructed_collinear", cc$cluster, cc$y, Xc)
A$constructed_collinear <- run("constructed_collinear", "logistic", rt,
                               "logistic with age10 = age / 10 (aliased)")

# Poisson: a zero-count arm (monotone likelihood), an ok study, a study with no events
p <- list()
n <- 40; t <- rep(0:1, n / 2); fu <- round(runif(n, 1, 5), 2)
p$ok <- data.frame(cluster = "ok", treat = t, y = rpois(n, fu * exp(-0.5 + 0.4 * t)), fu = fu)
yz <- rpois(n, fu * 0.8); yz[t == 1] <- 0
p$zero_arm <- data.frame(cluster = "zero_arm", treat = t, y = yz, fu = fu)
p$no_events <- data.frame(cluster = "no_events", treat = t, y = 0, fu = fu)
cp <- do.call(rbind, p)
rt <- roundtrip("constructed_poisson", cp$cluster, cp$y, model.matrix(~ treat, cp),
                offset = log(cp$fu))
A$constructed_poisson <- run("constructed_poisson", "poisson", rt, "constructed Poisson cases")

# Linear: ok, perfect fit, too few rows, collinear; and badly scaled covariates
l <- list()
n <- 25; t <- rep(0:1, length.out = n)
l$ok <- data.frame(cluster = "ok", treat = t, inc = round(rnorm(n, 5e4, 1e4)),
                   y = 10 + 2 * t + rnorm(n))
l$perfect <- data.frame(cluster = "perfect", treat = t, inc = round(rnorm(n, 5e4, 1e4)),
                        y = 3 + 2 * t)
l$too_few <- data.frame(cluster = "too_few", treat = c(0, 1, 1), inc = c(4e4, 5e4, 6e4),
                        y = c(1, 2, 3))
l$constant_treat <- data.frame(cluster = "constant_treat", treat = 1, inc = 1:6 * 1e4,
                               y = rnorm(6))
cl <- do.call(rbind, l)
rt <- roundtrip("constructed_linear", cl$cluster, cl$y, model.matrix(~ treat + inc, cl))
A$constructed_linear <- run("constructed_linear", "linear", rt, "constructed linear cases")

# A large study with badly scaled covariates (income in currency units), n = 4000
n <- 4000; t <- rbinom(n, 1, 0.5); a <- round(rnorm(n, 55, 12)); inc <- round(rlnorm(n, 10.5, 0.5))
yl <- rbinom(n, 1, plogis(-2 + 0.5 * t + 0.02 * (a - 55) + 1e-5 * (inc - 4e4)))
rt <- roundtrip("large_logit", rep("big", n), yl, model.matrix(~ t + a + inc))
A$large_logit <- run("large_logit", "logistic", rt, "simulated n = 4000, badly scaled covariate")
A$large_firth <- run("large_firth", "firth", rt, "simulated n = 4000, Firth")

meta <- list(R = R.version.string,
             packages = list(lme4 = as.character(packageVersion("lme4")),
                             HSAUR3 = as.character(packageVersion("HSAUR3")),
                             MASS = as.character(packageVersion("MASS")),
                             brglm2 = as.character(packageVersion("brglm2"))))
writeLines(to_json(list(meta = meta, analyses = A)), file.path(out_dir, "stage1_glm.json"))
cat("wrote", file.path(out_dir, "stage1_glm.json"), "\n")
