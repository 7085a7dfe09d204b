// The host page's own script (a same-origin file: the page's CSP allows no inline script).
// It records CSP violations, keeps a host button working (to prove the page still works),
// and mounts the widget on request of the checks in run.mjs.
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.__clicks = 0;
document.getElementById('host-button').addEventListener('click', () => window.__clicks++);

const build = new URLSearchParams(location.search).get('build') || 'widget';
window.__lib = () => import('/' + build + '/widget_shell.js');
window.mountWidget = async (options) => {
  const { mount } = await import('/' + build + '/widget.js');
  window.__w = mount({ host: location.origin, siteKey: 'pk_test_widget', token: 'visitor.jwt.token', ...options });
  return window.__w.ready;
};
