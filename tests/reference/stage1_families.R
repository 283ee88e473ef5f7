# Reference values for the stage-1 families of issue 16: ordinal (MASS::polr, ordinal::clm),
# negative binomial (MASS::glm.nb), log- and identity-binomial (glm), Weibull /
# exponential (survival::survreg, converted to proportional hazards), Fine-Gray
# (cmprsk::crr; survival::finegray + coxph for comparison), cluster-robust
# variances (sandwich::vcovCL, coxph(cluster =)) and Rubin's rules (mice::pool).
#
# Run from the repository root:   Rscript tests/reference/stage1_families.R
# Needs: MASS, ordinal, survival, sandwich, mice, HSAUR3, lme4, nlme, cmprsk.
# Writes tests/reference/data/fam_<name>.csv (cluster, outcome, design columns) and
# tests/reference/stage1_families.json.  Every fit is run on the data as read back from
# the CSV, so R and Python see the same numbers.  Convergence is tight everywhere
# (glm epsilon 1e-15, clm gradTol 1e-12, survreg rel.tolerance 1e-13, theta.ml eps 1e-11).

suppressPackageStartupMessages({
  library(MASS); library(ordinal); library(survival); library(sandwich); library(mice)
  library(HSAUR3); library(lme4); library(nlme); library(cmprsk)
})
source("tests/reference/_json.R")
out <- list()

design <- function(formula, data) {
  X <- model.matrix(formula, data)
  colnames(X) <- gsub("[()]", "", colnames(X))
  X
}
by_cluster <- function(d, f) lapply(unique(d$cluster), function(cl) c(list(cluster = cl),
                                                                     f(d[d$cluster == cl, ])))

# ---------------------------------------------------------------- ordinal
# clm (Newton with the analytic Hessian) gives the reference; polr (BFGS, numerically
# differentiated gradient for the Hessian) is stored too and agrees to ~1e-6.
fit_ordinal <- function(s, names) {
  y <- factor(s$y, levels = sort(unique(s$y)))
  X <- as.matrix(s[, names, drop = FALSE])
  r <- list(n = nrow(s), categories = arr(as.numeric(levels(y))))
  m <- clm(y ~ X, control = clm.control(gradTol = 1e-12, relTol = 1e-14, maxIter = 500))
  K <- nlevels(y)
  se <- sqrt(diag(vcov(m)))
  slope <- (K):(K + length(names) - 1)
  bad <- m$convergence$code != 0 || any(!is.finite(se)) || any(se[slope] > 100)
  r$status <- if (bad) "separation" else "ok"
  if (bad) return(r)
  p <- tryCatch(polr(y ~ X, Hess = TRUE, control = list(reltol = 1e-15, maxit = 1000)),
                error = function(e) NULL)
  r$coef <- arr(unname(coef(m)[slope])); r$se <- arr(unname(se[slope]))
  r$cuts <- arr(unname(coef(m)[1:(K - 1)])); r$cut_se <- arr(unname(se[1:(K - 1)]))
  r$loglik <- as.numeric(logLik(m))
  if (!is.null(p)) {
    r$polr_coef <- arr(unname(coef(p)))
    r$polr_se <- arr(unname(sqrt(diag(vcov(p)))[seq_along(names)]))
    r$polr_zeta <- arr(unname(p$zeta))
  }
  r
}
h <- MASS::housing[rep(seq_len(nrow(MASS::housing)), MASS::housing$Freq), ]
X <- design(~ Infl + Cont, h)[, -1]
rt <- roundtrip_frame(data.frame(cluster = h$Type, y = as.integer(h$Sat), X, check.names = FALSE),
                      "fam_housing.csv")
out$ordinal$housing <- list(description = "MASS::housing (rows repeated by Freq), Sat ~ Infl + Cont by Type",
                            data = rt$path, names = arr(colnames(X)),
                            clusters = by_cluster(rt$data, function(s) fit_ordinal(s, colnames(X))))
w <- ordinal::wine
X <- design(~ temp + contact, w)[, -1]
rt <- roundtrip_frame(data.frame(cluster = w$judge, y = as.integer(w$rating), X, check.names = FALSE),
                      "fam_wine.csv")
out$ordinal$wine <- list(description = "ordinal::wine, rating ~ temp + contact by judge",
                         data = rt$path, names = arr(colnames(X)),
                         clusters = by_cluster(rt$data, function(s) fit_ordinal(s, colnames(X))))

# ---------------------------------------------------------------- negative binomial
# glm.nb estimates theta with theta.ml(eps = .Machine$double.eps^0.25): polished here by
# alternating theta.ml(eps = 1e-11) and glm(negative.binomial(theta)) to full precision.
nb_loglik <- function(y, mu, th) sum(dnbinom(y, size = th, mu = mu, log = TRUE))
nb_grad <- function(par, y, X, off) {          # gradient in (b, log alpha), for the OIM
  k <- ncol(X); b <- par[1:k]; th <- exp(-par[k + 1])
  mu <- exp(drop(X %*% b) + off)
  gb <- crossprod(X, th * (y - mu) / (th + mu))
  gth <- sum(digamma(y + th) - digamma(th) + log(th) + 1 - log(th + mu) - (y + th) / (th + mu))
  c(gb, -th * gth)
}
fit_negbin <- function(s, names, offset = FALSE) {
  y <- s$y; X <- as.matrix(s[, names, drop = FALSE])
  off <- if (offset) s$offset else rep(0, nrow(s))
  r <- list(n = nrow(s), events = sum(y))
  pois <- glm(y ~ X - 1, family = poisson(), offset = off,
              control = glm.control(epsilon = 1e-15, maxit = 200))
  mu <- fitted(pois)
  if (sum((y - mu)^2 - y) <= 0) {     # no overdispersion: alpha-hat = 0, the Poisson fit
    nb <- tryCatch(suppressWarnings(glm.nb(y ~ X - 1 + offset(off), control = glm.control(maxit = 100))),
                   error = function(e) conditionMessage(e))
    r$status <- "ok"; r$poisson_limit <- TRUE
    r$coef <- arr(unname(coef(pois))); r$se <- arr(unname(sqrt(diag(vcov(pois)))))
    r$loglik <- as.numeric(logLik(pois))
    if (is.character(nb)) r$glm_nb_error <- nb else {
      r$glm_nb_theta <- nb$theta; r$glm_nb_coef <- arr(unname(coef(nb)))
    }
    return(r)
  }
  nb <- glm.nb(y ~ X - 1 + offset(off), control = glm.control(epsilon = 1e-14, maxit = 200))
  th <- nb$theta; b <- coef(nb)
  for (i in 1:100) {
    g <- glm(y ~ X - 1, family = negative.binomial(th), offset = off, start = b,
             control = glm.control(epsilon = 1e-15, maxit = 200))
    b <- coef(g)
    th_new <- tryCatch(theta.ml(y, fitted(g), limit = 200, eps = 1e-11),
                       error = function(e) NULL)   # NaN step at an exact maximum
    if (is.null(th_new) || abs(th_new - th) < 1e-11 * th) break
    th <- as.numeric(th_new)
  }
  g <- glm(y ~ X - 1, family = negative.binomial(th), offset = off, start = b,
           control = glm.control(epsilon = 1e-15, maxit = 200))
  V <- summary(g, dispersion = 1)$cov.scaled
  mu <- fitted(g)
  # observed information of (b, log alpha): central differences of the analytic gradient
  par <- c(coef(g), -log(th)); k <- length(par)
  H <- sapply(1:k, function(j) {
    e <- rep(0, k); e[j] <- 1e-4 / if (j <= ncol(X)) max(abs(X[, j])) else 1
    (nb_grad(par + e, y, X, off) - nb_grad(par - e, y, X, off)) / (2 * e[j])
  })
  Vo <- solve(-(H + t(H)) / 2)
  r$status <- "ok"; r$poisson_limit <- FALSE
  r$coef <- arr(unname(coef(g))); r$se <- arr(unname(sqrt(diag(V)))); r$cov <- arr(unname(V))
  info <- sum(-trigamma(th + y) + trigamma(th) - 1 / th + 2 / (mu + th) - (y + th) / (mu + th)^2)
  r$theta <- th; r$se_theta <- sqrt(1 / info)     # as theta.ml's attr(, "SE")
  r$loglik <- nb_loglik(y, mu, th)
  r$observed_se <- arr(unname(sqrt(diag(Vo))[1:ncol(X)]))
  r$glm_nb_coef <- arr(unname(coef(nb))); r$glm_nb_theta <- nb$theta
  r
}
q <- MASS::quine
X <- design(~ Eth + Sex, q)
rt <- roundtrip_frame(data.frame(cluster = q$Age, y = q$Days, X, check.names = FALSE), "fam_quine.csv")
out$negbin$quine <- list(description = "MASS::quine, Days ~ Eth + Sex by Age", data = rt$path,
                         names = arr(colnames(X)), offset = FALSE,
                         clusters = by_cluster(rt$data, function(s) fit_negbin(s, colnames(X))))
gt <- lme4::grouseticks
X <- design(~ HEIGHT, gt)
rt <- roundtrip_frame(data.frame(cluster = gt$YEAR, y = gt$TICKS, X, brood = gt$BROOD,
                                 check.names = FALSE), "fam_grouseticks.csv")
out$negbin$grouseticks <- list(description = "lme4::grouseticks, TICKS ~ HEIGHT by YEAR",
                               data = rt$path, names = arr(colnames(X)), offset = FALSE,
                               clusters = by_cluster(rt$data, function(s) fit_negbin(s, colnames(X))))
ins <- MASS::Insurance
X <- design(~ as.numeric(Group) + as.numeric(Age), ins)
colnames(X) <- c("Intercept", "group", "age")
rt <- roundtrip_frame(data.frame(cluster = ins$District, y = ins$Claims, offset = log(ins$Holders),
                                 X, check.names = FALSE), "fam_insurance.csv")
out$negbin$insurance <- list(description = "MASS::Insurance, Claims ~ Group + Age (scores) + offset(log(Holders)) by District",
                             data = rt$path, names = arr(colnames(X)), offset = TRUE,
                             clusters = by_cluster(rt$data, function(s) fit_negbin(s, colnames(X), TRUE)))
cb <- lme4::cbpp
X <- design(~ period, cb)
rt <- roundtrip_frame(data.frame(cluster = ifelse(as.integer(cb$herd) <= 7, "herds1-7", "herds8-15"),
                                 y = cb$incidence, offset = log(cb$size), X, check.names = FALSE),
                      "fam_cbpp.csv")
out$negbin$cbpp <- list(description = "lme4::cbpp, incidence ~ period + offset(log(size)) by herd group",
                        data = rt$path, names = arr(colnames(X)), offset = TRUE,
                        clusters = by_cluster(rt$data, function(s) fit_negbin(s, colnames(X), TRUE)))

# ---------------------------------------------------------------- log / identity binomial
# glm with start values at the overall risk; a fit whose fitted risks reach the edge
# (within 1e-6) is checked by maximising the likelihood under the constraints with
# constrOptim (log-barrier): the status is "boundary" when the constrained maximum has
# a fitted risk within 1e-3 of 0 or 1.
binom_ll <- function(b, y, X, link) {
  eta <- drop(X %*% b); p <- if (link == "log") exp(eta) else eta
  sum(dbinom(y, 1, p, log = TRUE))
}
binom_score <- function(b, y, X, link) {
  eta <- drop(X %*% b); p <- if (link == "log") exp(eta) else eta
  drop(crossprod(X, if (link == "log") (y - p) / (1 - p) else (y - p) / (p * (1 - p))))
}
# glm's deviance criterion leaves the coefficients ~sqrt(epsilon) from the maximum for a
# non-canonical link: Newton steps on the score (Jacobian by central differences) finish
# the job; glm is then restarted there for its vcov (IRLS weights at the estimate).
polish_binlink <- function(g, y, X, link) {
  b <- unname(coef(g))
  for (i in 1:20) {
    U <- binom_score(b, y, X, link)
    H <- sapply(seq_along(b), function(j) {
      e <- rep(0, length(b)); e[j] <- 1e-6 / max(abs(X[, j]))
      (binom_score(b + e, y, X, link) - binom_score(b - e, y, X, link)) / (2 * e[j])
    })
    step <- solve(-(H + t(H)) / 2, U)
    b <- b + step
    if (max(abs(step)) < 1e-14) break
  }
  suppressWarnings(glm(y ~ X - 1, family = binomial(link = link), start = b,
                       control = glm.control(epsilon = 1e-15, maxit = 1)))
}
fit_binlink <- function(s, names, link) {
  y <- s$y; X <- as.matrix(s[, names, drop = FALSE])
  r <- list(n = nrow(s), events = sum(y))
  b0 <- c(if (link == "log") log(mean(y)) else mean(y), rep(0, ncol(X) - 1))
  g <- tryCatch(suppressWarnings(glm(y ~ X - 1, family = binomial(link = link), start = b0,
                                     control = glm.control(epsilon = 1e-15, maxit = 1000))),
                error = function(e) NULL)
  edge <- function(p) any(p > 1 - 1e-6) || (link == "identity" && any(p < 1e-6))
  if (!is.null(g) && g$converged && link == "log" && any(fitted(g) < 1e-10) &&
      any(sqrt(diag(vcov(g))) > 100)) {
    r$status <- "separation"; return(r)      # a log risk ratio running to infinity
  }
  if (!is.null(g) && g$converged && !edge(fitted(g))) {
    g <- polish_binlink(g, y, X, link)
    r$max_score <- max(abs(binom_score(coef(g), y, X, link)))
    r$status <- "ok"; r$coef <- arr(unname(coef(g))); r$se <- arr(unname(sqrt(diag(vcov(g)))))
    r$loglik <- as.numeric(logLik(g))
    return(r)
  }
  ui <- if (link == "log") -X else rbind(X, -X)
  ci <- if (link == "log") rep(0, nrow(X)) else c(rep(0, nrow(X)), rep(-1, nrow(X)))
  o <- constrOptim(b0, function(b) -binom_ll(b, y, X, link), NULL, ui, ci - 1e-12,
                   mu = 1e-10, outer.iterations = 500, outer.eps = 1e-12,
                   method = "Nelder-Mead", control = list(maxit = 20000, reltol = 1e-14))
  p <- drop(X %*% o$par); if (link == "log") p <- exp(p)
  r$constrained_coef <- arr(o$par); r$max_fitted <- max(p); r$min_fitted <- min(p)
  r$status <- if (max(p) > 1 - 1e-3 || (link == "identity" && min(p) < 1e-3)) "boundary" else "not_converged"
  r
}
resp <- HSAUR3::respiratory
resp <- resp[resp$month != "0", ]
X <- design(~ treatment + gender + age, resp)
rtp <- roundtrip_frame(data.frame(cluster = resp$month, y = as.integer(resp$status == "good"), X,
                                 subject = resp$subject, centre = resp$centre, check.names = FALSE),
                      "fam_respiratory.csv")
bw <- MASS::birthwt
Xb <- design(~ smoke + ht, bw)
rtb <- roundtrip_frame(data.frame(cluster = bw$race, y = bw$low, Xb, check.names = FALSE),
                       "fam_birthwt.csv")
set.seed(16)
xx <- round(seq(0, 1, length.out = 60), 6)
cons <- data.frame(cluster = rep(c("boundary", "zero_arm"), each = 60),
                   y = c(as.integer(xx > 0.55 | (1:60) %% 7 == 0), rep(0:1, 30) * (rep(c(0, 1), each = 30))),
                   Intercept = 1, x = c(xx, rep(0:1, each = 30)))
rtc <- roundtrip_frame(cons, "fam_binomial_constructed.csv")
for (link in c("log", "identity")) {
  key <- if (link == "log") "rr" else "rd"
  out$binomial[[paste0(key, "_respiratory")]] <- list(
    description = "HSAUR3::respiratory (months 1-4), status good ~ treatment + gender + age by month",
    link = link, data = rtp$path, names = arr(colnames(X)),
    clusters = by_cluster(rtp$data, function(s) fit_binlink(s, colnames(X), link)))
  out$binomial[[paste0(key, "_birthwt")]] <- list(
    description = "MASS::birthwt, low ~ smoke + ht by race", link = link, data = rtb$path,
    names = arr(colnames(Xb)),
    clusters = by_cluster(rtb$data, function(s) fit_binlink(s, colnames(Xb), link)))
  out$binomial[[paste0(key, "_constructed")]] <- list(
    description = "constructed: a boundary maximum (events at every high x) and a zero-event arm",
    link = link, data = rtc$path, names = arr(c("Intercept", "x")),
    clusters = by_cluster(rtc$data, function(s) fit_binlink(s, c("Intercept", "x"), link)))
}

# ---------------------------------------------------------------- Weibull / exponential
fit_survreg <- function(s, names, dist) {
  X <- as.matrix(s[, names, drop = FALSE])
  m <- survreg(Surv(s$time, s$event) ~ X - 1, dist = dist,
               control = survreg.control(rel.tolerance = 1e-13, toler.chol = 1e-15, maxiter = 500))
  g <- unname(coef(m)); V <- unname(vcov(m)); k <- length(g)
  r <- list(n = nrow(s), events = sum(s$event), status = "ok", aft_coef = arr(g),
            aft_se = arr(sqrt(diag(V))), loglik = m$loglik[2])
  if (dist == "weibull") {
    sig <- m$scale
    J <- rbind(cbind(-diag(k) / sig, g / sig), c(rep(0, k), -1))   # (b, log p) from (g, log sigma)
    r$log_scale <- log(sig)
    r$ph_coef <- arr(c(-g / sig, -log(sig))); r$ph_se <- arr(sqrt(diag(J %*% V %*% t(J))))
  } else {
    r$ph_coef <- arr(-g); r$ph_se <- arr(sqrt(diag(V)))
  }
  r
}
vet <- survival::veteran
X <- design(~ trt + karno + age, vet)
rt <- roundtrip_frame(data.frame(cluster = vet$celltype, time = vet$time, event = vet$status, X,
                                 check.names = FALSE), "fam_veteran.csv")
lung <- na.omit(survival::lung[, c("time", "status", "sex", "age", "ph.ecog")])
Xl <- design(~ age + ph.ecog, lung)
rtl <- roundtrip_frame(data.frame(cluster = lung$sex, time = lung$time, event = lung$status - 1, Xl,
                                  check.names = FALSE), "fam_lung.csv")
for (dist in c("weibull", "exponential")) {
  out$survreg[[paste0(dist, "_veteran")]] <- list(
    description = "survival::veteran, ~ trt + karno + age by celltype", dist = dist,
    data = rt$path, names = arr(colnames(X)),
    clusters = by_cluster(rt$data, function(s) fit_survreg(s, colnames(X), dist)))
  out$survreg[[paste0(dist, "_lung")]] <- list(
    description = "survival::lung (complete cases), ~ age + ph.ecog by sex", dist = dist,
    data = rtl$path, names = arr(colnames(Xl)),
    clusters = by_cluster(rtl$data, function(s) fit_survreg(s, colnames(Xl), dist)))
}

# ---------------------------------------------------------------- Fine-Gray
# cmprsk::crr (gtol 1e-13): coefficients, Fine & Gray's sandwich variance, loglik; also
# survival::finegray + coxph(weights, ties = "breslow") for the model-based comparison.
fit_crr <- function(s, names) {
  X <- as.matrix(s[, names, drop = FALSE])
  r <- list(n = nrow(s), events = sum(s$status == 1), competing = sum(s$status == 2))
  m <- crr(s$time, s$status, X, failcode = 1, cencode = 0, gtol = 1e-13, maxiter = 200)
  r$status <- if (m$converged) "ok" else "not_converged"
  r$coef <- arr(unname(m$coef)); r$se <- arr(unname(sqrt(diag(m$var))))
  r$cov <- arr(unname(m$var)); r$loglik <- m$loglik
  fd <- data.frame(time = s$time, status = factor(s$status, 0:2), X)
  fg <- finegray(Surv(time, status) ~ ., data = fd, etype = "1")
  cx <- coxph(as.formula(paste("Surv(fgstart, fgstop, fgstatus) ~", paste(names, collapse = "+"))),
              data = fg, weights = fgwt, ties = "breslow",
              control = coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100))
  r$finegray_coxph_coef <- arr(unname(coef(cx)))
  r$finegray_coxph_se <- arr(unname(sqrt(diag(cx$naive.var %||% vcov(cx)))))
  r
}
`%||%` <- function(a, b) if (is.null(a)) b else a
mg <- survival::mgus2
mg$time <- ifelse(mg$pstat == 0, mg$futime, mg$ptime)
mg$status <- ifelse(mg$pstat == 0, 2 * mg$death, 1)
mg <- na.omit(mg[, c("time", "status", "age", "sex", "mspike")])
rtg <- roundtrip_frame(data.frame(cluster = mg$sex, time = mg$time, status = mg$status, age = mg$age,
                                  mspike = mg$mspike), "fam_mgus2.csv")
out$finegray$mgus2 <- list(description = "survival::mgus2, progression (1) vs death (2), ~ age + mspike by sex",
                           data = rtg$path, names = arr(c("age", "mspike")),
                           clusters = by_cluster(rtg$data, function(s) fit_crr(s, c("age", "mspike"))))
mel <- MASS::Melanoma
rtm2 <- roundtrip_frame(data.frame(cluster = mel$sex, time = mel$time,
                                   status = c(1, 0, 2)[mel$status], age = mel$age,
                                   thickness = mel$thickness, ulcer = mel$ulcer), "fam_melanoma.csv")
out$finegray$melanoma <- list(description = "MASS::Melanoma, melanoma death (1) vs other death (2), ~ ulcer + thickness + age by sex",
                              data = rtm2$path, names = arr(c("ulcer", "thickness", "age")),
                              clusters = by_cluster(rtm2$data, function(s) fit_crr(s, c("ulcer", "thickness", "age"))))

# ---------------------------------------------------------------- cluster-robust
# sandwich::vcovCL: type "HC0" (with cadjust: G/(G-1)) is Stata's vce(cluster) for ML
# models; "HC1" adds (n-1)/(n-k) (Stata's regress); cadjust = FALSE is CR0.
robust_glm <- function(m, cl) list(
  stata = arr(sqrt(diag(vcovCL(m, cluster = cl, type = if (inherits(m, "glm")) "HC0" else "HC1")))),
  hc1 = arr(sqrt(diag(vcovCL(m, cluster = cl, type = "HC1")))),
  none = arr(sqrt(diag(vcovCL(m, cluster = cl, type = "HC0", cadjust = FALSE)))))
robust_fit <- function(s, names, family, cl) {
  X <- as.matrix(s[, names, drop = FALSE]); y <- s$y
  if (family == "rr") {
    st <- fit_binlink(s, names, "log")$status
    if (st != "ok") return(list(n = nrow(s), status = st))
  }
  m <- switch(family,
              linear = lm(y ~ X - 1),
              logistic = glm(y ~ X - 1, family = binomial(), control = glm.control(epsilon = 1e-15)),
              poisson = glm(y ~ X - 1, family = poisson(), control = glm.control(epsilon = 1e-15)),
              rr = polish_binlink(glm(y ~ X - 1, family = binomial(link = "log"),
                                      start = c(log(mean(y)), rep(0, ncol(X) - 1)),
                                      control = glm.control(epsilon = 1e-15, maxit = 500)), y, X, "log"),
              negbin = {
                r <- fit_negbin(s, names)
                glm(y ~ X - 1, family = negative.binomial(r$theta), start = r$coef[[1]],
                    control = glm.control(epsilon = 1e-15, maxit = 200))
              })
  if (family %in% c("logistic", "poisson"))
    m <- update(m, start = coef(m))   # IRLS weights at the estimate
  c(list(n = nrow(s), status = "ok", coef = arr(unname(coef(m)))), robust_glm(m, s[[cl]]))
}
robust_cox <- function(s, names, ties) {
  X <- as.matrix(s[, names, drop = FALSE])
  m <- coxph(Surv(s$time, s$event) ~ X, cluster = s$litter, ties = ties,
             control = coxph.control(eps = 1e-13, toler.chol = 1e-15, iter.max = 100))
  status <- if (any(abs(coef(m)) > 10 & sqrt(diag(m$naive.var)) > 100)) "separation" else "ok"
  list(n = nrow(s), status = status, coef = arr(unname(coef(m))), none = arr(unname(sqrt(diag(vcov(m))))),
       naive_se = arr(unname(sqrt(diag(m$naive.var)))), clusters = length(unique(s$litter)))
}
orth <- nlme::Orthodont
Xo <- design(~ age, as.data.frame(orth))
rto <- roundtrip_frame(data.frame(cluster = orth$Sex, y = orth$distance, Xo,
                                  subject = as.character(orth$Subject), check.names = FALSE),
                       "fam_orthodont.csv")
gtd <- read.csv("tests/reference/data/fam_grouseticks.csv", colClasses = c(cluster = "character"))
rtd <- list(path = "data/fam_grouseticks.csv", data = gtd)
rats <- survival::rats
rtr <- roundtrip_frame(data.frame(cluster = rats$sex, time = rats$time, event = rats$status,
                                  rx = rats$rx, litter = rats$litter), "fam_rats.csv")
rob <- list()
rob$linear_orthodont <- list(description = "nlme::Orthodont, distance ~ age by Sex, cluster = Subject",
                             family = "linear", data = rto$path, names = arr(colnames(Xo)), cluster = "subject",
                             clusters = by_cluster(rto$data, function(s) robust_fit(s, colnames(Xo), "linear", "subject")))
Xr <- c("Intercept", "treatmenttreatment", "gendermale", "age")
rob$logistic_respiratory <- list(description = "HSAUR3::respiratory months 1-4, status ~ treatment + gender + age by centre, cluster = subject",
                                 family = "logistic", data = rtp$path, names = arr(Xr), cluster = "subject", by = "centre",
                                 clusters = lapply(c("1", "2"), function(cc) c(list(cluster = cc),
                                   robust_fit(rtp$data[rtp$data$centre == cc, ], Xr, "logistic", "subject"))))
rob$rr_respiratory <- list(description = "as logistic_respiratory, log-binomial", family = "rr",
                           data = rtp$path, names = arr(Xr), cluster = "subject", by = "centre",
                           clusters = lapply(c("1", "2"), function(cc) c(list(cluster = cc),
                             robust_fit(rtp$data[rtp$data$centre == cc, ], Xr, "rr", "subject"))))
rob$poisson_grouseticks <- list(description = "lme4::grouseticks, TICKS ~ HEIGHT by YEAR, cluster = BROOD",
                                family = "poisson", data = rtd$path, names = arr(c("Intercept", "HEIGHT")), cluster = "brood",
                                clusters = by_cluster(rtd$data, function(s) robust_fit(s, c("Intercept", "HEIGHT"), "poisson", "brood")))
rob$negbin_grouseticks <- list(description = "lme4::grouseticks, negative binomial, cluster = BROOD (theta fixed)",
                               family = "negbin", data = rtd$path, names = arr(c("Intercept", "HEIGHT")), cluster = "brood",
                               clusters = by_cluster(rtd$data, function(s) robust_fit(s, c("Intercept", "HEIGHT"), "negbin", "brood")))
for (ties in c("efron", "breslow"))
  rob[[paste0("cox_rats_", ties)]] <- list(description = "survival::rats, Surv(time, status) ~ rx by sex, cluster = litter",
                                           family = "cox", ties = ties, data = rtr$path, names = arr("rx"), cluster = "litter",
                                           clusters = by_cluster(rtr$data, function(s) robust_cox(s, "rx", ties)))
wine <- read.csv("tests/reference/data/fam_wine.csv", colClasses = c(cluster = "character"))
robust_ordinal <- function(s, names) {
  y <- factor(s$y); X <- as.matrix(s[, names])
  m <- clm(y ~ X, control = clm.control(gradTol = 1e-12, relTol = 1e-14, maxIter = 500))
  U <- rowsum(sandwich::estfun(m), s$cluster); G <- nrow(U)
  V0 <- vcov(m) %*% crossprod(U) %*% vcov(m)
  K <- nlevels(y); slope <- K:(K + length(names) - 1)
  list(n = nrow(s), status = "ok", coef = arr(unname(coef(m)[slope])),
       none = arr(unname(sqrt(diag(V0))[slope])),
       stata = arr(unname(sqrt(diag(V0) * G / (G - 1))[slope])),
       hc1 = arr(unname(sqrt(diag(V0) * G / (G - 1) * (nrow(s) - 1) / (nrow(s) - length(coef(m))))[slope])),
       vcovCL_stata = arr(unname(sqrt(diag(vcovCL(m, cluster = s$cluster, type = "HC0")))[slope])))
}
rob$ordinal_wine <- list(description = "ordinal::wine, rating ~ temp + contact, all judges, cluster = judge",
                         family = "ordinal", data = "data/fam_wine.csv", names = arr(c("tempwarm", "contactyes")),
                         cluster = "cluster", by = "all",
                         clusters = list(c(list(cluster = "all"), robust_ordinal(wine, c("tempwarm", "contactyes")))))
# survreg(cluster =): the robust variance of the AFT form, no small-sample factor
lungc <- na.omit(survival::lung[, c("time", "status", "sex", "age", "ph.ecog", "inst")])
rtw <- roundtrip_frame(data.frame(cluster = lungc$sex, time = lungc$time, event = lungc$status - 1,
                                  age = lungc$age, ph.ecog = lungc$ph.ecog, inst = lungc$inst),
                       "fam_lung_inst.csv")
robust_survreg <- function(s, dist) {
  m <- survreg(Surv(time, event) ~ age + ph.ecog, data = s, dist = dist, cluster = inst,
               control = survreg.control(rel.tolerance = 1e-13, toler.chol = 1e-15, maxiter = 500))
  list(n = nrow(s), status = "ok", aft_coef = arr(unname(coef(m))),
       none = arr(unname(sqrt(diag(vcov(m))))[seq_along(coef(m))]),
       clusters = length(unique(s$inst)))
}
for (dist in c("weibull", "exponential"))
  rob[[paste0(dist, "_lung_inst")]] <- list(
    description = "survival::lung (complete cases), ~ age + ph.ecog by sex, survreg(cluster = inst)",
    family = dist, data = rtw$path, names = arr(c("Intercept", "age", "ph.ecog")), cluster = "inst",
    clusters = by_cluster(rtw$data, function(s) robust_survreg(s, dist)))
out$robust <- rob

# ---------------------------------------------------------------- Rubin's rules
imp <- mice(mice::nhanes, m = 5, seed = 16, printFlag = FALSE)
long <- complete(imp, "long")
long$hyp2 <- as.integer(long$hyp == 2)
rtm <- roundtrip_frame(data.frame(cluster = "nhanes", imp = long$.imp, id = long$.id, age = long$age,
                                  bmi = long$bmi, hyp2 = long$hyp2, chl = long$chl), "fam_nhanes_long.csv")
pooled <- function(fits, term) {
  p <- pool(as.mira(fits))$pooled
  p <- p[p$term == term, ]
  list(term = term, estimate = p$estimate, ubar = p$ubar, b = p$b, t = p$t, dfcom = p$dfcom,
       df = p$df, riv = p$riv, lambda = p$lambda, fmi = p$fmi,
       per_imputation_estimate = arr(sapply(fits, function(f) coef(f)[[term]])),
       per_imputation_se = arr(sapply(fits, function(f) sqrt(diag(vcov(f)))[[term]])))
}
dl <- split(rtm$data, rtm$data$imp)
out$mice <- list(
  data = rtm$path, m = 5, seed = 16,
  description = "mice::nhanes imputed by mice(m = 5, seed = 16) (pmm), long format",
  linear = pooled(lapply(dl, function(d) lm(chl ~ age + bmi, data = d)), "bmi"),
  logistic = pooled(lapply(dl, function(d) {
    g <- glm(hyp2 ~ bmi + age, family = binomial(), data = d, control = glm.control(epsilon = 1e-15))
    update(g, start = coef(g))                  # IRLS weights at the estimate for vcov
  }), "bmi"))

out$meta <- list(R = R.version.string, packages = lapply(
  c(MASS = "MASS", ordinal = "ordinal", survival = "survival", sandwich = "sandwich", mice = "mice",
    cmprsk = "cmprsk"),
  function(p) as.character(packageVersion(p))))
writeLines(to_json(out), "tests/reference/stage1_families.json")
cat("wrote tests/reference/stage1_families.json\n")
