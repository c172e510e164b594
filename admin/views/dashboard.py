"""The back-office landing page: key numbers and charts for the signed-in role (no CDN: Chart.js is
served from ``app/static/vendor``)."""

from __future__ import annotations

from flask_admin import AdminIndexView, expose
from flask_login import current_user

from admin.security import SecuredViewMixin
from app.services import dashboard


class DashboardView(SecuredViewMixin, AdminIndexView):
    """Every staff role lands here; what it shows depends on the role."""

    @expose("/")
    def index(self) -> str:
        data = dashboard.build(current_user.role)
        return self.render("admin/dashboard.html", numbers=data.numbers, charts=data.charts)
