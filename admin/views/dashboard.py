"""The back-office landing page."""

from __future__ import annotations

from flask_admin import AdminIndexView, expose

from admin.security import SecuredViewMixin


class DashboardView(SecuredViewMixin, AdminIndexView):
    """Every staff role lands here; what it shows depends on the role."""

    @expose("/")
    def index(self) -> str:
        return self.render("admin/dashboard.html")
